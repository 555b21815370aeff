"""Small objects live inside their manifest: one file (one PUT on S3) instead of two.

``SpillFile`` buffers a codec's output in memory up to ``INLINE_LIMIT`` bytes
and only opens the real (atomic) data file once the output grows past it.
A put whose output never spilled stores the bytes, base64, in the manifest's
``inline`` field; the manifest is still written last and atomically, so an
inline object appears whole or not at all, and its content digest is checked
on read like any other.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from typing import Any, BinaryIO

INLINE_LIMIT = 4096  # bytes of encoded output kept in the manifest


class SpillFile:
    """Write-only: memory up to ``limit`` bytes, then everything goes to ``open_file()``."""

    def __init__(self, limit: int, open_file: Callable[[], BinaryIO]) -> None:
        self._limit = limit
        self._open_file = open_file
        self._memory: bytearray | None = bytearray()
        self._file: BinaryIO | None = None

    @property
    def spilled(self) -> bool:
        return self._file is not None

    def inline_text(self) -> str:
        """The buffered bytes as base64 (only when nothing spilled)."""
        assert self._memory is not None
        return base64.b64encode(bytes(self._memory)).decode("ascii")

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self._file is None and len(self._memory or b"") + view.nbytes <= self._limit:
            self._memory += view  # type: ignore[operator]
            return view.nbytes
        if self._file is None:
            self._file = self._open_file()
            _write_all(self._file, memoryview(self._memory or b""))
            self._memory = None
        _write_all(self._file, view)
        return view.nbytes


def decode_inline(text: str, writable: bool) -> bytes | bytearray:
    """The inline bytes of a manifest; ValueError when they are not valid base64."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as err:
        raise ValueError(f"inline data is not base64: {err}") from err
    return bytearray(data) if writable else data


def _write_all(out: BinaryIO, view: memoryview) -> None:
    written = 0
    while written < view.nbytes:  # a raw file may accept fewer bytes than asked
        n = out.write(view[written:])
        written += view.nbytes - written if n is None else n
