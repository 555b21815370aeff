"""A result value in a few lines, as the CLI prints it, and as JSON where it can be.

``describe`` never prints a large value whole: a scalar or a short string in
full; a table (Arrow, pandas) as its schema and first rows; an array or
tensor as shape, dtype and min/mean/max; a container as its type, length and
a bounded repr. ``as_json`` returns the value itself when it is JSON-able and
small, else ``NOT_JSON``. Neither imports numpy, pyarrow, pandas or torch: a
value of those types means its library is already loaded.
"""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Mapping
from typing import Any

__all__ = ["NOT_JSON", "as_json", "describe"]

NOT_JSON = object()
_MAX_TEXT = 2000
_MAX_JSON = 64 * 1024
_ROWS = 5
_repr = reprlib.Repr()
_repr.maxstring, _repr.maxother, _repr.maxlist, _repr.maxdict = 200, 200, 8, 8


def describe(value: Any, *, rows: int = _ROWS) -> str:
    """A short, human description of ``value`` (may span a few lines)."""
    kind = _kind(value)
    if kind == "arrow":
        return _arrow_text(value, rows)
    if kind == "pandas":
        return _pandas_text(value, rows)
    if kind in ("numpy", "torch"):
        return _array_text(value, kind)
    if isinstance(value, str):
        return repr(value) if len(value) <= _MAX_TEXT else \
            f"str of {len(value)} chars: {value[:_MAX_TEXT]!r}…"
    if value is None or isinstance(value, (bool, int, float, complex)):
        return repr(value)
    if isinstance(value, (bytes, bytearray)):
        return f"{type(value).__name__} of {len(value)} bytes: {_repr.repr(bytes(value))}"
    text = repr(value)
    if len(text) <= _MAX_TEXT:
        return text
    size = f" of {len(value)}" if hasattr(value, "__len__") else ""
    return f"{type(value).__name__}{size}: {_repr.repr(value)}"


def as_json(value: Any) -> Any:
    """``value`` if it is plain JSON data of at most 64 KiB encoded, else ``NOT_JSON``."""
    kind = _kind(value)
    if kind == "numpy" and getattr(value, "ndim", 1) == 0:
        value = value.item()  # a numpy scalar is a number
    if not _plain(value):
        return NOT_JSON
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):  # NaN/inf, non-string dict keys nested oddly
        return NOT_JSON
    return value if len(text) <= _MAX_JSON else NOT_JSON


def _plain(value: Any, depth: int = 0) -> bool:
    if depth > 20:
        return False
    if value is None or isinstance(value, (bool, int, str)):
        return True
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain(v, depth + 1) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain(v, depth + 1) for k, v in value.items())
    return False


def _kind(value: Any) -> str:
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    if module == "pyarrow" and name in ("Table", "RecordBatch"):
        return "arrow"
    if module == "pandas" and name in ("DataFrame", "Series"):
        return "pandas"
    if module == "numpy" and hasattr(value, "shape") and hasattr(value, "dtype"):
        return "numpy"
    if module == "torch" and name in ("Tensor", "Parameter"):
        return "torch"
    return ""


def _arrow_text(table: Any, rows: int) -> str:
    head = [f"{type(table).__name__}: {table.num_rows} rows x {table.num_columns} columns"]
    head += [f"  {field.name}: {field.type}" for field in table.schema]
    if table.num_rows:
        columns = table.slice(0, rows).to_pydict()
        count = min(rows, table.num_rows)
        head.append(f"first {count} row(s):")
        head += ["  " + line for line in _grid(columns, count)]
    return "\n".join(head)


def _cell(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else _repr.repr(value).strip("'")


def _grid(columns: dict[str, list[Any]], count: int) -> list[str]:
    """Aligned text columns: a header line, then one line per row."""
    cells = [[str(name)] + [_cell(v) for v in values] for name, values in columns.items()]
    widths = [max(len(c) for c in col) for col in cells]
    return ["  ".join(col[i].ljust(w) for col, w in zip(cells, widths, strict=True)).rstrip()
            for i in range(count + 1)]


def _pandas_text(frame: Any, rows: int) -> str:
    kind = type(frame).__name__
    if kind == "Series":
        head = [f"Series {frame.name!r}: {len(frame)} rows, dtype {frame.dtype}"]
    else:
        head = [f"DataFrame: {len(frame)} rows x {len(frame.columns)} columns"]
        head += [f"  {name}: {dtype}" for name, dtype in frame.dtypes.items()]
    if len(frame):
        head.append(f"first {min(rows, len(frame))} row(s):")
        head += ["  " + line for line in frame.head(rows).to_string().splitlines()]
    return "\n".join(head)


def _array_text(array: Any, kind: str) -> str:
    shape = tuple(array.shape)
    dtype = str(array.dtype).removeprefix("torch.")
    where = f" on {array.device}" if kind == "torch" and str(array.device) != "cpu" else ""
    text = f"{'tensor' if kind == 'torch' else 'array'} shape {shape} {dtype}{where}"
    if len(shape) == 0:
        return f"{array.item()!r} ({dtype})"
    stats = _stats(array, kind)
    return f"{text}; {stats}" if stats else text


def _stats(array: Any, kind: str) -> str:
    """min/mean/max of a non-empty numeric array (bools count as 0/1), else ''."""
    try:
        if array.size == 0 if kind == "numpy" else array.numel() == 0:
            return "empty"
        data = array.detach().to("cpu").double() if kind == "torch" else array
        if kind == "numpy" and array.dtype.kind not in "biuf":
            return ""
        lo, mean, hi = (float(data.min()), float(data.mean(dtype=float) if kind == "numpy"
                        else data.mean()), float(data.max()))
    except (TypeError, ValueError, RuntimeError):
        return ""
    return f"min {lo:.6g}, mean {mean:.6g}, max {hi:.6g}"
