"""The codec contract and the hashing sink every codec writes through."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

import blake3

if TYPE_CHECKING:
    from storage.secret import Keyring


AS_STORED = "as-stored"  # device=: where the value was when stored, if this process has one


@dataclass(frozen=True)
class CodecContext:
    """What a codec may need besides the value: the object's address (pickles bind
    their tag to it), the pickle secret (resolved only when asked) and the target device."""

    key: str
    socket: int
    secret: Callable[[], Keyring]
    device: Any = None


class CodecDeclined(Exception):
    """Raised by ``encode`` before writing anything: let the next codec try."""


class Codec(Protocol):
    """Encodes one family of values to a file and decodes it from a buffer.

    ``writable``: decode wants a private writable buffer (copy-on-write map)
    rather than a read-only one. ``encode`` returns the manifest summary, or
    raises ``CodecDeclined`` before writing a byte.
    """

    name: str
    ext: str
    writable: bool

    def accepts(self, value: Any) -> bool: ...
    def encode(self, value: Any, sink: BinaryIO, ctx: CodecContext) -> dict[str, Any]: ...
    def decode(self, buf: Any, summary: dict[str, Any], ctx: CodecContext) -> Any: ...


_PARALLEL_HASH = 4 << 20  # above this, hash on a helper thread while the bytes are written
_HASH_POOL: ThreadPoolExecutor | None = None


def _hash_pool() -> ThreadPoolExecutor:
    global _HASH_POOL
    if _HASH_POOL is None:
        _HASH_POOL = ThreadPoolExecutor(1, thread_name_prefix="digestflow-hash")
    return _HASH_POOL


class HashingWriter:
    """A write-only file that forwards to ``out`` and hashes what passes through.

    Large writes are hashed on a helper thread concurrently with the write (both
    release the GIL), so a put costs about max(hash, write) rather than the sum.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
        self.nbytes = 0
        self.closed = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if view.nbytes < _PARALLEL_HASH:
            self._hasher.update(view)
            self._write_all(view)
        else:
            hashed = _hash_pool().submit(self._hasher.update, view)
            try:
                self._write_all(view)
            finally:
                hashed.result()
        self.nbytes += view.nbytes
        return view.nbytes

    def _write_all(self, view: memoryview) -> None:
        written = 0
        while written < view.nbytes:  # a raw file may accept fewer bytes than asked
            n = self._out.write(view[written:])
            written += view.nbytes - written if n is None else n

    def hexdigest(self) -> str:
        return self._hasher.hexdigest()

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        """Nothing buffered here."""

    def tell(self) -> int:
        return self.nbytes

    def close(self) -> None:
        self.closed = True


def content_digest(buf: Any) -> str:
    """blake3 hex of a whole buffer, multithreaded for large ones."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    hasher.update(buf)
    return hasher.hexdigest()
