"""The streaming encoder and the public ``encode`` / ``digest`` entry points.

An ``Encoder`` writes a value's canonical encoding into a sink (any
``write(bytes-like)`` callable): a list for ``encode()``, a blake3 hasher for
``digest()``, a spill buffer for the signer. Large buffers are handed to the
sink as memoryviews, so digesting a 1 GiB array builds no 1 GiB bytes.

State per encoder: the sink and the ids of the containers being encoded
(a container met again inside itself is self-referential and refused).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from blake3 import blake3

from keys import _format as F
from keys import registry
from keys._unencodable import Unencodable
from keys.errors import UnhashableError
from keys.key import Key

_SCALARS = {tp: fn for tp, fn in F.SCALARS.items() if tp is not bytes}
_AUTO = blake3.AUTO
_RESOLVED = registry._RESOLVED


class Encoder:
    """Writes canonical encodings into ``write``; one per top-level call."""

    __slots__ = ("write", "_active")

    def __init__(self, write: Callable[[Any], Any]) -> None:
        self.write = write
        self._active: set[int] = set()

    def encode(self, value: Any) -> None:
        tp = type(value)
        scalar = _SCALARS.get(tp)
        if scalar is not None:
            self.write(scalar(value))
            return
        writer = _RESOLVED.get(tp) or registry.resolve(tp)
        if writer is None:
            raise Unencodable(tp)
        writer(self, value)

    def to_bytes(self, value: Any) -> bytes:
        """The encoding of ``value`` as bytes (dict keys, set elements)."""
        saved, parts = self.write, []
        self.write = parts.append
        try:
            self.encode(value)
        finally:
            self.write = saved
        return b"".join(parts)

    def enter(self, container: Any) -> None:
        """Mark ``container`` as being encoded; refuse it if it already is."""
        ident = id(container)
        if ident in self._active:
            raise Unencodable(
                type(container),
                "is self-referential (it contains itself): a cycle has no canonical encoding",
            )
        self._active.add(ident)

    def leave(self, container: Any) -> None:
        self._active.discard(id(container))


def run(enc: Encoder, value: Any, root: str, prefix: str = "") -> None:
    """Encode ``value`` and turn internal failures into ``UnhashableError``."""
    try:
        enc.encode(value)
    except Unencodable as err:
        raise err.to_error(root, prefix) from err.__cause__
    except RecursionError:
        raise UnhashableError(
            f"{prefix}{root} is nested too deeply to encode (Python's recursion limit)"
        ) from None


def encode(value: Any) -> bytes:
    """The canonical, typed, versioned encoding of ``value`` as bytes."""
    parts: list[Any] = [F.HEADER]
    run(Encoder(parts.append), value, "value")
    return b"".join(parts)


def digest(value: Any) -> Key:
    """blake3 of the domain tag and ``encode(value)``, streamed, multithreaded for big buffers."""
    hasher = blake3(F.VALUE_DOMAIN + F.HEADER, max_threads=_AUTO)
    run(Encoder(hasher.update), value, "value")
    return Key._trusted(hasher.digest())


class _Spill:
    """Collects up to ``limit`` bytes, then switches to hashing (signer literals)."""

    __slots__ = ("parts", "size", "limit", "hasher")

    def __init__(self, limit: int) -> None:
        self.parts: list[Any] = [F.HEADER]
        self.size = len(F.HEADER)
        self.limit = limit
        self.hasher: Any = None

    def write(self, data: Any) -> None:
        if self.hasher is not None:
            self.hasher.update(data)
            return
        self.size += len(data)
        self.parts.append(data)
        if self.size > self.limit:
            self.hasher = blake3(F.VALUE_DOMAIN, max_threads=_AUTO)
            for part in self.parts:
                self.hasher.update(part)
            self.parts = []


def encode_or_digest(value: Any, limit: int, root: str, prefix: str = "") -> tuple[bool, bytes]:
    """``(True, encode(value))`` if it fits in ``limit`` bytes, else ``(False, digest)``.

    The digest equals ``digest(value).digest``, computed without ever holding
    the whole encoding.
    """
    scalar = _SCALARS.get(type(value))
    if scalar is not None:
        data = F.HEADER + scalar(value)
        if len(data) <= limit:
            return True, data
        return False, blake3(F.VALUE_DOMAIN + data, max_threads=_AUTO).digest()
    spill = _Spill(limit)
    run(Encoder(spill.write), value, root, prefix)
    if spill.hasher is None:
        return True, b"".join(spill.parts)
    return False, spill.hasher.digest()
