"""Writers for user-defined shapes: dataclasses, namedtuples, enums,
registered encoders, ``__digest__`` and subclasses of registered types.

Each one mixes the type's ``module.qualname`` into the encoding, so two
classes with the same fields (or a class and the tuple it returns) differ.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

from keys import _format as F
from keys._unencodable import Unencodable

_TYPE_PREFIX: dict[type, bytes] = {}
_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def type_prefix(tp: type) -> bytes:
    """The encoded ``module.qualname`` of ``tp`` (cached)."""
    prefix = _TYPE_PREFIX.get(tp)
    if prefix is None:
        prefix = _TYPE_PREFIX[tp] = F.enc_str(F.type_name(tp))
    return prefix


def _write_fields(enc: Any, value: Any, names: tuple[str, ...], values: Any) -> None:
    enc.enter(value)
    enc.write(F.FIELDS + type_prefix(type(value)) + F.length(len(names)))
    for name, item in zip(names, values, strict=True):
        enc.write(F.enc_str(name))
        try:
            enc.encode(item)
        except Unencodable as err:
            raise err.at(f".{name}") from err.__cause__
    enc.leave(value)


def write_dataclass(enc: Any, value: Any) -> None:
    """All ``dataclasses.fields`` in declaration order (ClassVar/InitVar excluded)."""
    tp = type(value)
    names = _FIELD_NAMES.get(tp)
    if names is None:
        names = _FIELD_NAMES[tp] = tuple(f.name for f in dataclasses.fields(value))
    _write_fields(enc, value, names, (getattr(value, n) for n in names))


def write_namedtuple(enc: Any, value: Any) -> None:
    _write_fields(enc, value, tuple(type(value)._fields), value)


def write_enum(enc: Any, value: Any) -> None:
    """Type and member *name*: stable even when member values are unencodable."""
    enc.write(F.ENUM + type_prefix(type(value)) + F.enc_str(value.name))


def returning_writer(
    tag: bytes, fn: Callable[[Any], Any], label: str
) -> Callable[[Any, Any], None]:
    """Adapt ``fn(value) -> encodable`` (register / __digest__) into a writer."""
    segment = f".{label}" if label.startswith("__") else f"<{label} encoder>"

    def writer(enc: Any, value: Any) -> None:
        enc.enter(value)  # __digest__ returning self must fail, not recurse forever
        enc.write(tag + type_prefix(type(value)))
        try:
            enc.encode(fn(value))
        except Unencodable as err:
            raise err.at(segment) from err.__cause__
        enc.leave(value)

    return writer


def subclass_writer(
    tp: type, base_writer: Callable[[Any, Any], None]
) -> Callable[[Any, Any], None]:
    """An unregistered subclass encodes like its base, tagged with its own name."""
    prefix = F.SUBCLASS + type_prefix(tp)

    def writer(enc: Any, value: Any) -> None:
        enc.write(prefix)
        base_writer(enc, value)

    return writer
