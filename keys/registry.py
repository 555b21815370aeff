"""Which writer encodes which type: explicit, protocol, structural, lazy, by base.

State: ``_WRITERS`` holds explicit registrations (built-in and user);
``_RESOLVED`` caches the answer for every type seen, including fallbacks,
and is cleared on each registration. ``_LAZY`` maps a top-level module name
to an installer run the first time a type from that module is seen, so
numpy/pyarrow/torch are imported only when such a value is encoded.

Resolution order for a type: explicit registration; ``__digest__``; Enum,
dataclass, namedtuple; lazy installers for modules in its MRO (then retry);
the nearest registered base class, with the subclass name mixed in.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable
from typing import Any, TypeVar

from keys import _format as F
from keys import structs

Writer = Callable[[Any, Any], None]
T = TypeVar("T")

_WRITERS: dict[type, Writer] = {}
_RESOLVED: dict[type, Writer] = {}
_LAZY: dict[str, Callable[[], object]] = {}
_COVERS_SUBCLASSES: set[type] = set()


def register_writer(*types: type, subclasses: bool = False) -> Callable[[Writer], Writer]:
    """Internal: register a writer ``(encoder, value) -> None`` for ``types``.

    ``subclasses=True``: the writer already encodes everything that tells
    subclasses apart (pyarrow's per-type Array classes, numpy scalar types),
    so subclasses use it as is instead of mixing in their class name.
    """

    def deco(writer: Writer) -> Writer:
        for tp in types:
            _WRITERS[tp] = writer
            if subclasses:
                _COVERS_SUBCLASSES.add(tp)
        _RESOLVED.clear()
        return writer

    return deco


def register(tp: type) -> Callable[[Callable[[T], Any]], Callable[[T], Any]]:
    """Register an encoder for ``tp``: a function returning an encodable value.

    The returned value is encoded in place of the object, prefixed with
    ``tp``'s ``module.qualname``, so ``Foo(1, 2)`` never collides with
    ``(1, 2)``. Returning a value (rather than writing bytes) keeps the
    framing ours: a user encoder cannot make two values collide.
    """
    if not isinstance(tp, type):
        raise TypeError(f"keys.register needs a type, got {tp!r}")

    def deco(fn: Callable[[T], Any]) -> Callable[[T], Any]:
        _install_lazy(tp)  # so a later lazy install cannot override this registration
        register_writer(tp)(structs.returning_writer(F.REGISTERED, fn, tp.__name__))
        return fn

    return deco


def register_lazy(module: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
    """Run the decorated installer the first time a type from ``module`` is seen."""
    top = module.split(".")[0]

    def deco(installer: Callable[[], T]) -> Callable[[], T]:
        _LAZY[top] = installer
        _RESOLVED.clear()
        return installer

    return deco


def resolve(tp: type) -> Writer | None:
    """The writer for ``tp`` or None; cached per type."""
    writer = _resolve_uncached(tp)
    if writer is not None:
        _RESOLVED[tp] = writer
    return writer


def _resolve_uncached(tp: type) -> Writer | None:
    writer = _WRITERS.get(tp) or _structural(tp)
    if writer is not None:
        return writer
    if _install_lazy(tp):
        return resolve(tp)
    for base in tp.__mro__[1:]:
        base_writer = _WRITERS.get(base)
        if base_writer is not None:
            if base in _COVERS_SUBCLASSES:
                return base_writer
            return structs.subclass_writer(tp, base_writer)
    return None


def _structural(tp: type) -> Writer | None:
    if callable(getattr(tp, "__digest__", None)):
        return structs.returning_writer(F.PROTOCOL, _call_digest, "__digest__()")
    if issubclass(tp, enum.Enum):
        return structs.write_enum
    if dataclasses.is_dataclass(tp):
        return structs.write_dataclass
    if issubclass(tp, tuple) and isinstance(getattr(tp, "_fields", None), tuple):
        return structs.write_namedtuple
    return None


def _call_digest(value: Any) -> Any:
    return value.__digest__()


def _install_lazy(tp: type) -> bool:
    """Run (once) the installers of the modules ``tp`` and its bases live in."""
    installed = False
    for cls in tp.__mro__:
        installer = _LAZY.pop(str(cls.__module__).split(".")[0], None)
        if installer is not None:
            installer()
            installed = True
    if installed:
        _RESOLVED.clear()
    return installed
