"""Choosing a codec by the value's type, with lazy registration.

Codecs are known by name from the start (decoding needs only the manifest's
codec name), but the *types* they handle are registered lazily per top-level
module: the installer for ``"torch"`` runs the first time a value whose class
lives in ``torch`` is stored, so torch and pandas are imported only when such
values exist. Lookup walks the value's MRO; then the fallbacks are tried in
order (plain builtins, then authenticated pickle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from storage.codecs.base import Codec
from storage.errors import StorageError

Installer = Callable[["CodecRegistry"], None]


class CodecRegistry:
    """Name -> codec, type -> codec name, and lazy installers by top-level module."""

    def __init__(self) -> None:
        self._codecs: dict[str, Codec] = {}
        self._by_type: dict[type, str] = {}
        self._lazy: dict[str, list[Installer]] = {}
        self._fallbacks: list[str] = []

    def add(self, codec: Codec, *, fallback: bool = False) -> None:
        self._codecs[codec.name] = codec
        if fallback:
            self._fallbacks.append(codec.name)

    def register(self, tp: type, codec_name: str) -> None:
        if codec_name not in self._codecs:
            raise StorageError(f"unknown codec {codec_name!r}")
        self._by_type[tp] = codec_name

    def register_lazy(self, toplevel: str, installer: Installer) -> None:
        self._lazy.setdefault(toplevel, []).append(installer)

    def named(self, name: str) -> Codec:
        try:
            return self._codecs[name]
        except KeyError:
            raise StorageError(
                f"unknown codec {name!r}: the object was written by a newer digestflow"
            ) from None

    def exts(self) -> frozenset[str]:
        """The file extensions of every codec's data files."""
        return frozenset(codec.ext for codec in self._codecs.values())

    def for_value(self, value: Any, exclude: frozenset[str] = frozenset()) -> Codec:
        for cls in type(value).__mro__:
            self._install(cls.__module__.partition(".")[0])
            name = self._by_type.get(cls)
            if name is not None and name not in exclude and self._codecs[name].accepts(value):
                return self._codecs[name]
        for name in self._fallbacks:
            if name not in exclude and self._codecs[name].accepts(value):
                return self._codecs[name]
        raise StorageError(f"no codec accepts a value of type {type(value).__qualname__}")

    def _install(self, toplevel: str) -> None:
        for installer in self._lazy.pop(toplevel, ()):
            installer(self)
