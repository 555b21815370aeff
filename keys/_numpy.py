"""numpy encoders, installed lazily the first time a numpy value is seen.

An array encodes as its dtype (``np.lib.format`` descr: byte order, fields),
shape, and its data in C order. A non-contiguous array hashes equal to its
contiguous copy; it is copied in ~16 MiB blocks, never all at once. Arrays
holding Python objects (object or StringDType) are encoded element-wise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from keys import _format as F
from keys.registry import register_writer
from keys.structs import type_prefix

CHUNK_BYTES = 16 << 20


def _dtype_descr(dtype: np.dtype) -> Any:
    """Canonical dtype description, as ``.npy`` files write it."""
    return np.lib.format.dtype_to_descr(dtype)


def _c_order_blocks(arr: np.ndarray) -> Iterator[np.ndarray]:
    """Contiguous blocks whose concatenation is ``arr`` in C order."""
    if arr.flags.c_contiguous:
        yield arr
        return
    row_bytes = arr[0].nbytes if arr.ndim and arr.shape[0] else arr.nbytes
    if arr.ndim > 1 and row_bytes > CHUNK_BYTES:
        for i in range(arr.shape[0]):
            yield from _c_order_blocks(arr[i])
        return
    rows = max(1, CHUNK_BYTES // max(row_bytes, 1))
    for start in range(0, arr.shape[0], rows):
        yield np.ascontiguousarray(arr[start : start + rows])


def _is_objectlike(dtype: np.dtype) -> bool:
    return dtype.hasobject or dtype.kind == "T"


@register_writer(np.ndarray)
def _write_ndarray(enc: Any, arr: np.ndarray) -> None:
    if _is_objectlike(arr.dtype):
        _write_object_array(enc, arr)
        return
    enc.write(F.NDARRAY)
    enc.encode(_dtype_descr(arr.dtype))
    enc.encode(tuple(int(n) for n in arr.shape))
    enc.write(F.length(arr.nbytes))
    if arr.ndim == 0:
        arr = arr.reshape(1)
    for block in _c_order_blocks(arr):
        if block.size:
            enc.write(memoryview(block.reshape(-1).view(np.uint8)))


def _write_object_array(enc: Any, arr: np.ndarray) -> None:
    enc.write(F.NDARRAY_OBJECT)
    enc.encode(str(arr.dtype))
    enc.encode(tuple(int(n) for n in arr.shape))
    enc.encode(arr.reshape(-1).tolist())


@register_writer(np.ma.MaskedArray)
def _write_masked(enc: Any, arr: np.ma.MaskedArray) -> None:
    """Data and mask: masking a value must change the key."""
    enc.write(F.REGISTERED + type_prefix(np.ma.MaskedArray))
    enc.encode((np.ma.getdata(arr), np.ma.getmaskarray(arr)))


# Scalar subclasses encode by dtype alone, never by class name, so platform
# aliases (np.longlong vs np.int64) agree.
@register_writer(np.generic, subclasses=True)
def _write_scalar(enc: Any, value: np.generic) -> None:
    """numpy scalars: dtype + raw bytes, distinct from the Python float/int."""
    if _is_objectlike(value.dtype):
        enc.write(F.NUMPY_SCALAR + F.enc_str(str(value.dtype)))
        enc.encode(value.item())
        return
    data = np.asarray(value).tobytes()
    enc.write(F.NUMPY_SCALAR)
    enc.encode(_dtype_descr(value.dtype))
    enc.write(F.enc_bytes(data))


@register_writer(np.dtype, subclasses=True)
def _write_dtype(enc: Any, value: np.dtype) -> None:
    enc.write(F.NUMPY_DTYPE)
    enc.encode(_dtype_descr(value))
