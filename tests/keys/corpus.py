"""A fixed corpus of values covering every encoder, shared by the golden
test and the fresh-interpreter determinism test."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import enum
import pathlib
import sys
import uuid
from collections import namedtuple
from typing import Any

import keys


class Color(enum.Enum):
    RED = 1
    GREEN = "g"


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: float


Pair = namedtuple("Pair", ["left", "right"])


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees

    def __digest__(self) -> Any:
        return {"degrees": self.degrees}


def builtin_corpus() -> dict[str, Any]:
    utc = dt.timezone.utc
    return {
        "none": None,
        "true": True,
        "false": False,
        "int": 1,
        "int_neg": -12345,
        "int_big": 2**200 + 7,
        "float": 1.0,
        "float_neg_zero": -0.0,
        "float_nan": float("nan"),
        "float_inf": float("-inf"),
        "complex": 1 - 2.5j,
        "str": "1",
        "str_unicode": "naïve ☃ \U0001f600",
        "bytes": b"1",
        "bytearray": bytearray(b"\x00\xff"),
        "memoryview": memoryview(b"abcdef")[1:5],
        "tuple": (1,),
        "list": [1],
        "nested": [1, (2.0, "3"), {"k": [None, b"x"]}],
        "dict": {"b": 2, "a": 1, 3: "mixed keys"},
        "set": {1, "1", 1.5, (1,)},
        "frozenset": frozenset({"a", "b"}),
        "range": range(0, 10, 3),
        "dataclass": Point(1, 2.5),
        "namedtuple": Pair("l", 2),
        "enum": Color.GREEN,
        "protocol": Celsius(21.5),
        "datetime_naive": dt.datetime(2024, 2, 29, 13, 45, 1, 123456),
        "datetime_utc": dt.datetime(2024, 2, 29, 13, 45, tzinfo=utc),
        "datetime_offset": dt.datetime(
            2024, 2, 29, 13, 45, tzinfo=dt.timezone(dt.timedelta(hours=-5))
        ),
        "date": dt.date(1999, 12, 31),
        "time": dt.time(23, 59, 59, 999),
        "timedelta": dt.timedelta(days=-1, seconds=5, microseconds=7),
        "decimal": decimal.Decimal("3.1400"),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
        "path": pathlib.PurePosixPath("/data/in.parquet"),
        "windows_path": pathlib.PureWindowsPath(r"C:\data\in.parquet"),
        "key": keys.Key(bytes(range(32))),
        **int_boundaries(),
        **surrogate_strings(),
        **memoryview_formats(),
    }


def int_boundaries() -> dict[str, Any]:
    """Ints on both sides of every change in encoded length (1 to 9 bytes, signed),
    including 64..127 and -128..-65, whose bit length is one short of a byte boundary."""
    values: dict[str, Any] = {"int_0": 0, "int_64": 64, "int_100": 100, "int_-65": -65}
    for nbytes in range(1, 10):
        top = 2 ** (8 * nbytes - 1)
        values[f"int_2**{8 * nbytes - 1}-1"] = top - 1
        values[f"int_2**{8 * nbytes - 1}"] = top
        values[f"int_-2**{8 * nbytes - 1}"] = -top
        values[f"int_-2**{8 * nbytes - 1}-1"] = -top - 1
    return values


def surrogate_strings() -> dict[str, Any]:
    """Lone surrogates are legal in a Python str; a pair of them is not the emoji."""
    return {
        "str_lone_high": "\ud800",
        "str_lone_low": "a\udfffb",
        "str_surrogate_pair": "\ud83d\ude00",  # differs from "\U0001f600" (str_unicode)
    }


#: Every single-character format memoryview.cast accepts (sizes as on 64-bit Linux).
MEMORYVIEW_FORMATS = "cbB?hHiIlLqQnNfdP"


def memoryview_formats() -> dict[str, Any]:
    """The same 8 bytes under every format, plus 2-D and strided views: format,
    item size and shape are part of a memoryview's value."""
    data = bytes(range(1, 9))
    values: dict[str, Any] = {
        f"memoryview_{fmt}": memoryview(data).cast(fmt) for fmt in MEMORYVIEW_FORMATS
    }
    values["memoryview_2d"] = memoryview(data).cast("B", shape=[2, 4])
    values["memoryview_2d_h"] = memoryview(data).cast("B").cast("h", shape=[2, 2])
    values["memoryview_strided"] = memoryview(data)[::2]
    return values


def numpy_corpus() -> dict[str, Any]:
    import numpy as np

    return {
        "np_f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "np_f64_be": np.array([1.5, -0.0], dtype=">f8"),
        "np_transposed": np.arange(6, dtype=np.int16).reshape(2, 3).T,
        "np_datetime": np.array(["2024-01-01", "NaT"], dtype="datetime64[s]"),
        "np_structured": np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
        "np_object": np.array([1, "x", None], dtype=object),
        "np_scalar_f64": np.float64(1.0),
        "np_scalar_i8": np.int8(-3),
        "np_dtype": np.dtype("<u2"),
        # buffer formats only numpy exports: explicit byte order, half, complex, struct
        "memoryview_>i": memoryview(np.array([1, 2], dtype=">i4")),
        "memoryview_e": memoryview(np.array([1, 2], dtype="<f2")),
        "memoryview_Zf": memoryview(np.array([1 + 2j], dtype="<c8")),
        "memoryview_struct": memoryview(np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f4")])),
    }


def arrow_corpus() -> dict[str, Any]:
    import pyarrow as pa

    table = pa.table({"x": [1, 2, None], "s": ["a", None, "ccc"]})
    return {
        "pa_array": pa.array([1.5, None, 3.0]),
        "pa_chunked": pa.chunked_array([[1, 2], [3]]),
        "pa_batch": table.to_batches()[0],
        "pa_table": table,
    }


def torch_corpus() -> dict[str, Any]:
    import torch

    return {
        "torch_f32": torch.arange(6, dtype=torch.float32).reshape(2, 3),
        "torch_bf16": torch.tensor([1.0, -2.5, 3.25], dtype=torch.bfloat16),
        "torch_bool": torch.tensor([True, False]),
    }


def print_digests() -> None:
    """Print ``name hex`` per value (imported, not run as __main__, so type names match)."""
    values = {**builtin_corpus(), **numpy_corpus(), **arrow_corpus()}
    if "--torch" in sys.argv:
        values.update(torch_corpus())
    for name, value in values.items():
        print(name, keys.digest(value).hex())
