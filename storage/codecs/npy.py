"""numpy arrays as ``.npy`` files, read back as read-only arrays over the file map.

Why ``.npy`` rather than Arrow tensor IPC: both map in O(1), but ``.npy``
covers every numpy dtype without object references (bool, complex, float16,
datetime64, structured, fixed-width strings) while Arrow tensors cover only
numeric types; and the file is readable with plain ``np.load(mmap_mode="r")``.
C-contiguous arrays are written without a copy, Fortran-ordered ones as their
transpose with ``fortran_order`` set (so they come back Fortran-ordered), any
other strides by value. The header is padded so data starts 64-byte aligned.
"""

from __future__ import annotations

import ast
import struct
from typing import Any, BinaryIO

from storage.codecs.base import CodecContext
from storage.errors import CorruptObjectError

MAGIC = b"\x93NUMPY"
ALIGN = 64


def write_npy(arr: Any, sink: BinaryIO) -> bool:
    """Write ``arr`` as .npy (version 1.0/2.0 header); return whether Fortran order was used."""
    import numpy as np

    fortran = not arr.flags.c_contiguous and arr.flags.f_contiguous
    data = arr.T if fortran else np.ascontiguousarray(arr)
    descr = np.lib.format.dtype_to_descr(arr.dtype)
    header = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {tuple(arr.shape)!r}, }}"
    raw = header.encode("latin1")
    big = len(raw) + 16 > 65535
    prefix = MAGIC + (b"\x02\x00" if big else b"\x01\x00")
    size_fmt = "<I" if big else "<H"
    fixed = len(prefix) + struct.calcsize(size_fmt)
    pad = -(fixed + len(raw) + 1) % ALIGN
    raw += b" " * pad + b"\n"
    sink.write(prefix + struct.pack(size_fmt, len(raw)) + raw)
    if data.size:
        sink.write(data.reshape(-1).view(np.uint8))
    return fortran


def read_npy(buf: Any, writable: bool = False) -> Any:
    """An ndarray viewing ``buf`` (no copy); read-only unless ``writable``."""
    import numpy as np

    view = memoryview(buf)
    try:
        if bytes(view[:6]) != MAGIC:
            raise ValueError("not an .npy file")
        big = view[6] >= 2
        size_fmt, start = ("<I", 12) if big else ("<H", 10)
        (hlen,) = struct.unpack_from(size_fmt, view, 8)
        header = ast.literal_eval(bytes(view[start : start + hlen]).decode("latin1"))
        dtype = np.dtype(np.lib.format.descr_to_dtype(header["descr"]))
        shape = tuple(header["shape"])
        count = 1
        for dim in shape:
            count *= dim
        arr = np.frombuffer(buf, dtype=dtype, count=count, offset=start + hlen)
        arr = arr.reshape(shape, order="F" if header["fortran_order"] else "C")
    except (ValueError, KeyError, SyntaxError, TypeError, struct.error) as err:
        raise CorruptObjectError(f"unreadable .npy data: {err}") from err
    if not writable:
        arr.flags.writeable = False
    return arr


def plain_dtype(arr: Any) -> bool:
    """True if the array holds no Python object references (so bytes round-trip)."""
    return not arr.dtype.hasobject


class NumpyCodec:
    """``numpy.ndarray`` (any dtype without object references) as ``.npy``."""

    name = "numpy"
    ext = "npy"
    writable = False

    def accepts(self, value: Any) -> bool:
        import numpy as np

        return type(value) is np.ndarray and plain_dtype(value)

    def encode(self, value: Any, sink: BinaryIO, ctx: CodecContext) -> dict[str, Any]:
        fortran = write_npy(value, sink)
        return {
            "type": "numpy.ndarray",
            "dtype": str(value.dtype),
            "shape": list(value.shape),
            "order": "F" if fortran else "C",
        }

    def decode(self, buf: Any, summary: dict[str, Any], ctx: CodecContext) -> Any:
        return read_npy(buf)
