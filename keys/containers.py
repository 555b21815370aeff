"""Writers for builtin containers and byte buffers.

Ordered containers encode a count then each element. Dicts sort entries by
the *encoding* of their keys and sets sort the encodings of their elements,
so insertion/iteration order (and PYTHONHASHSEED) never matter and
mixed-type keys/elements still have a total order.
"""

from __future__ import annotations

from operator import itemgetter
from typing import Any

from keys import _format as F
from keys._unencodable import Unencodable, short_repr
from keys.registry import register_writer

_first = itemgetter(0)


def _write_sequence(tag: bytes) -> Any:
    def writer(enc: Any, value: Any) -> None:
        enc.enter(value)
        enc.write(tag + F.length(len(value)))
        i = 0
        try:
            for i, item in enumerate(value):  # noqa: B007 - i is read on error
                enc.encode(item)
        except Unencodable as err:
            raise err.at(f"[{i}]") from err.__cause__
        enc.leave(value)

    return writer


register_writer(tuple)(_write_sequence(F.TUPLE))
register_writer(list)(_write_sequence(F.LIST))


@register_writer(dict)
def _write_dict(enc: Any, value: dict[Any, Any]) -> None:
    enc.enter(value)
    enc.write(F.DICT + F.length(len(value)))
    entries = []
    for k, v in value.items():
        try:
            entries.append((enc.to_bytes(k), v, k))
        except Unencodable as err:
            raise err.at(f"<key {short_repr(k)}>") from err.__cause__
    entries.sort(key=_first)
    if any(a[0] == b[0] for a, b in zip(entries, entries[1:], strict=False)):
        _write_tied_dict(enc, entries)  # distinct keys, same encoding (e.g. two NaNs)
    else:
        for kb, v, k in entries:
            enc.write(kb)
            try:
                enc.encode(v)
            except Unencodable as err:
                raise err.at(f"[{short_repr(k)}]") from err.__cause__
    enc.leave(value)


def _write_tied_dict(enc: Any, entries: list[tuple[bytes, Any, Any]]) -> None:
    pairs = []
    for kb, v, k in entries:
        try:
            pairs.append((kb, enc.to_bytes(v)))
        except Unencodable as err:
            raise err.at(f"[{short_repr(k)}]") from err.__cause__
    pairs.sort()
    for kb, vb in pairs:
        enc.write(kb)
        enc.write(vb)


def _write_set(tag: bytes) -> Any:
    def writer(enc: Any, value: Any) -> None:
        encoded = []
        for item in value:
            try:
                encoded.append(enc.to_bytes(item))
            except Unencodable as err:
                raise err.at(f"{{{short_repr(item)}}}") from err.__cause__
        encoded.sort()
        enc.write(tag + F.length(len(encoded)))
        for data in encoded:
            enc.write(data)

    return writer


register_writer(set)(_write_set(F.SET))
register_writer(frozenset)(_write_set(F.FROZENSET))


@register_writer(bytes)
def _write_bytes(enc: Any, value: bytes) -> None:
    enc.write(F.BYTES + F.length(len(value)))
    enc.write(value)  # streamed as is: no concatenated copy of a big buffer


@register_writer(bytearray)
def _write_bytearray(enc: Any, value: bytearray) -> None:
    enc.write(F.BYTEARRAY + F.length(len(value)))
    enc.write(memoryview(value))


@register_writer(memoryview)
def _write_memoryview(enc: Any, value: memoryview) -> None:
    """Format, shape and the data in C order (what ``tobytes()`` returns)."""
    enc.write(F.MEMORYVIEW + F.enc_str(value.format) + F.length(value.itemsize))
    enc.encode(tuple(value.shape or ()))
    enc.write(F.length(value.nbytes))
    try:
        flat = value.cast("B") if value.c_contiguous else None
    except TypeError:
        flat = None
    enc.write(flat if flat is not None else value.tobytes())


@register_writer(range)
def _write_range(enc: Any, value: range) -> None:
    enc.write(F.RANGE + F.enc_int(value.start) + F.enc_int(value.stop) + F.enc_int(value.step))


def _scalar_writer(fn: Any) -> Any:
    def writer(enc: Any, value: Any) -> None:
        enc.write(fn(value))

    return writer


# Scalars take the encoder's fast path; registering them too lets subclasses
# (``class Name(str)``) resolve to them, with the subclass name mixed in.
for _tp, _fn in F.SCALARS.items():
    if _tp not in (bytes, bool):
        register_writer(_tp)(_scalar_writer(_fn))
