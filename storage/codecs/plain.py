"""Plain builtin values as tagged JSON: safe to load, exact round-trip.

Handles exactly ``None, bool, int, float, str, bytes`` and ``list, tuple,
dict`` of them (exact types, not subclasses; nesting up to ``MAX_DEPTH``).
Strings, small ints, finite floats, booleans and null are JSON scalars; every
other value is a tagged array, so a JSON array is never ambiguous::

    ["L", [...]]  list          ["T", [...]]  tuple      ["D", [[k, v], ...]]  dict
    ["B", "<base64>"]  bytes    ["I", "<hex>"]  int beyond 2**53
    ["F", "<8 bytes hex>"]  non-finite float (NaN payload and sign kept)

Finite floats use ``repr`` (shortest exact), so ``-0.0`` and ``1.0`` stay floats.
"""

from __future__ import annotations

import base64
import json
import math
import struct
from typing import Any, BinaryIO

from storage.codecs.base import CodecContext
from storage.errors import CorruptObjectError

MAX_DEPTH = 100
_SCALARS = (type(None), bool, int, float, str, bytes)
_SAFE_INT = 2**53


def is_plain(value: Any, depth: int = 0) -> bool:
    """True if ``value`` is made only of exact builtin scalars, lists, tuples and dicts."""
    tp = type(value)
    if tp in _SCALARS:
        return True
    if depth >= MAX_DEPTH:
        return False
    if tp is list or tp is tuple:
        return all(is_plain(v, depth + 1) for v in value)
    if tp is dict:
        return all(is_plain(k, depth + 1) and is_plain(v, depth + 1) for k, v in value.items())
    return False


def to_json(value: Any) -> Any:
    tp = type(value)
    if tp is int:
        return value if -_SAFE_INT < value < _SAFE_INT else ["I", hex(value)]
    if tp is float:
        return value if math.isfinite(value) else ["F", struct.pack("<d", value).hex()]
    if tp is bytes:
        return ["B", base64.b64encode(value).decode("ascii")]
    if tp is list:
        return ["L", [to_json(v) for v in value]]
    if tp is tuple:
        return ["T", [to_json(v) for v in value]]
    if tp is dict:
        return ["D", [[to_json(k), to_json(v)] for k, v in value.items()]]
    return value  # None, bool, str


def from_json(data: Any) -> Any:
    if type(data) is not list:
        return data
    tag, body = data
    if tag == "L":
        return [from_json(v) for v in body]
    if tag == "T":
        return tuple(from_json(v) for v in body)
    if tag == "D":
        return {from_json(k): from_json(v) for k, v in body}
    if tag == "B":
        return base64.b64decode(body, validate=True)
    if tag == "I":
        return int(body, 16)
    if tag == "F":
        return struct.unpack("<d", bytes.fromhex(body))[0]
    raise ValueError(f"unknown tag {tag!r}")


class PlainCodec:
    """Builtin values as tagged JSON (never executes anything on load)."""

    name = "plain"
    ext = "json"
    writable = False

    def accepts(self, value: Any) -> bool:
        try:
            return is_plain(value)
        except RecursionError:
            return False

    def encode(self, value: Any, sink: BinaryIO, ctx: CodecContext) -> dict[str, Any]:
        doc = {"digestflow-plain": 1, "value": to_json(value)}
        sink.write(json.dumps(doc, separators=(",", ":"), allow_nan=False).encode())
        summary: dict[str, Any] = {"type": type(value).__name__}
        if isinstance(value, list | tuple | dict | str | bytes):
            summary["len"] = len(value)
        return summary

    def decode(self, buf: Any, summary: dict[str, Any], ctx: CodecContext) -> Any:
        try:
            doc = json.loads(bytes(memoryview(buf)))
            if doc.get("digestflow-plain") != 1:
                raise ValueError("not a plain-value document")
            return from_json(doc["value"])
        except (ValueError, TypeError, KeyError, AttributeError, struct.error) as err:
            raise CorruptObjectError(f"unreadable plain value: {err}") from err
