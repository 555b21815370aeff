"""Writes: every byte reaches the file once, in order, and the digest covers exactly them.

A raw file may accept fewer bytes than asked; large writes are hashed on a
helper thread while they are written. Both are checked here on small real
sinks (``io.RawIOBase`` subclasses), and large puts are read back verified.
"""

from __future__ import annotations

import io
import os
import threading
import time
from typing import Any

import blake3
import numpy as np

from storage import Store
from storage.codecs import HashingWriter
from storage.codecs import base as codec_base
from storage.inline import SpillFile
from tests.storage.helpers import key

LARGE = 12 << 20  # past the size at which hashing moves to the helper thread


class ShortWriter(io.RawIOBase):
    """A raw file that accepts at most a few bytes per call (cycling sizes), as a pipe,
    a socket or a network filesystem may."""

    def __init__(self, sizes: tuple[int, ...] = (1, 7, 4093, 65536, 3)) -> None:
        self.data = bytearray()
        self.calls = 0
        self._sizes = sizes
        self.on_write: Any = None

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        if self.on_write is not None:
            self.on_write()
        view = memoryview(b).cast("B")
        n = min(len(view), self._sizes[self.calls % len(self._sizes)])
        self.data += view[:n]
        self.calls += 1
        return n


def _chunks(data: bytes, sizes: list[int]) -> list[memoryview]:
    view, out, start = memoryview(data), [], 0
    for size in sizes:
        out.append(view[start:start + size])
        start += size
    out.append(view[start:])
    return out


def test_short_writes_resume_where_the_file_stopped() -> None:
    data = os.urandom(300_000)
    raw = ShortWriter()
    sink = HashingWriter(raw)
    for chunk in _chunks(data, [0, 1, 10, 4096, 100_000]):
        assert sink.write(chunk) == len(chunk), "write reports the whole chunk as taken"
    assert bytes(raw.data) == data, "bytes lost, repeated or reordered after a short write"
    assert raw.calls > 6, "the raw file really took partial writes"
    assert sink.nbytes == sink.tell() == len(data)
    assert sink.hexdigest() == blake3.blake3(data).hexdigest()


def test_short_writes_of_a_large_buffer() -> None:
    data = os.urandom(LARGE)
    raw = ShortWriter(sizes=(1 << 20, 12345, 7))
    sink = HashingWriter(raw)
    sink.write(np.frombuffer(data, dtype=np.uint32))  # any buffer, counted in bytes
    assert bytes(raw.data) == data
    assert sink.nbytes == LARGE and sink.hexdigest() == blake3.blake3(data).hexdigest()


def test_spill_file_resumes_short_writes_too() -> None:
    data = os.urandom(50_000)
    raw = ShortWriter()
    spill = SpillFile(4096, lambda: raw)
    for chunk in _chunks(data, [100, 3000, 2000, 10]):
        assert spill.write(chunk) == len(chunk)
    assert spill.spilled and bytes(raw.data) == data


def test_large_write_digest_waits_for_the_hashing_thread() -> None:
    """The digest is taken only after the helper thread hashed every byte, even when
    that thread starts late (here: busy with an earlier job until the write is done)."""
    data = os.urandom(LARGE)
    busy, release = threading.Event(), threading.Event()

    def earlier_job() -> None:
        busy.set()
        release.wait(10)
        time.sleep(0.2)  # still busy for a while after the bytes were written

    codec_base._hash_pool().submit(earlier_job)
    assert busy.wait(10)
    raw = ShortWriter(sizes=(LARGE,))
    raw.on_write = release.set  # the write itself lets the earlier job finish
    sink = HashingWriter(raw)
    sink.write(data)
    assert sink.hexdigest() == blake3.blake3(data).hexdigest(), (
        "the digest was taken before the helper thread finished hashing"
    )


def test_large_put_reads_back_verified(local_store: Store) -> None:
    value = np.random.default_rng(7).integers(0, 2**62, size=LARGE // 8, dtype=np.int64)
    manifest = local_store.put(key("large"), 0, value)
    assert manifest.inline is None and manifest.nbytes > LARGE
    got, checked = local_store.load(key("large"), 0, verify="always")
    assert checked == manifest and np.array_equal(got, value)
    raw = _data_file_bytes(local_store, key("large"), 0)
    assert len(raw) == manifest.nbytes
    assert blake3.blake3(raw).hexdigest() == manifest.content_digest
    assert local_store.verify_all() == []


def _data_file_bytes(store: Store, key_: str, socket: int) -> bytes:
    from storage.refs import data_path

    ext = store._registry.named(store.manifest(key_, socket).codec).ext
    return store.backend.read_bytes(data_path(key_, socket, ext))


def test_hashing_writer_is_a_write_only_file() -> None:
    raw = ShortWriter()
    sink = HashingWriter(raw)
    assert sink.writable() and not sink.closed and sink.tell() == 0
    sink.write(b"abc")
    sink.flush()
    assert bytes(raw.data) == b"abc" and sink.tell() == 3
    sink.close()
    assert sink.closed
    assert codec_base.content_digest(b"abc") == blake3.blake3(b"abc").hexdigest()
    big = os.urandom(LARGE)
    assert codec_base.content_digest(memoryview(big)) == blake3.blake3(big).hexdigest()


class WholeWriter:
    """A file-like whose ``write`` takes everything and returns None, as some wrappers
    (and Python 2-style files) do."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, b: Any) -> None:
        self.data += memoryview(b).cast("B")


def test_a_sink_whose_write_returns_none_took_everything() -> None:
    data = os.urandom(70_000)
    raw = WholeWriter()
    sink = HashingWriter(raw)
    assert sink.write(data) == len(data)
    assert bytes(raw.data) == data, "written once, not repeated or cut"
    assert sink.hexdigest() == blake3.blake3(data).hexdigest()
