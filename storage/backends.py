"""Where bytes live: a local directory or any ``pyarrow.fs`` filesystem.

Both backends take paths relative to the store root (already validated by
``storage.refs``). The local one uses the OS directly for the fast paths
(temp file + ``os.replace``, memory maps, one ``stat`` per path); the remote one
goes through ``pyarrow.fs`` (S3, GCS, HDFS): data is written straight to its
final name (object stores publish a PUT/multipart upload only when it
completes) and read into memory.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import secrets
import shutil
import stat
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    import pyarrow.fs as pafs


def _pafs() -> Any:
    """``pyarrow.fs``, imported on first use: a local store never needs it (the CLI
    on a local store starts ~0.1 s sooner)."""
    import pyarrow.fs

    return pyarrow.fs


TMP_DIR = "tmp"
_SAFE_OPEN = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
TMP_NAME = re.compile(r"[^/]+\.[0-9]+\.[0-9a-f]{12}\.part")  # what open_atomic writes in tmp/
# one directory per writing process: writers that share one directory queue on its lock
# (two Ray workers storing small outputs spent most of a put waiting there)
TMP_SUBDIR = re.compile(r"w[0-9]+")


@dataclass(frozen=True)
class FileEntry:
    """A file under the store root: relative path, size in bytes, mtime in seconds."""

    path: str
    size: int
    mtime: float


class Backend(Protocol):
    """The few file operations the store needs."""

    is_local: bool
    root: str

    def read_bytes(self, path: str) -> bytes: ...
    def write_bytes(self, path: str, data: bytes, also: str | None = None) -> bool: ...
    def open_atomic(self, path: str) -> contextlib.AbstractContextManager[BinaryIO]: ...
    def map(self, path: str, writable: bool) -> Any: ...
    def exists_many(self, paths: Iterable[str]) -> set[str]: ...
    def read_many(self, paths: Iterable[str]) -> dict[str, bytes]: ...
    def list_files(self, prefix: str) -> Iterator[FileEntry]: ...
    def delete(self, path: str) -> None: ...
    def move(self, src: str, dst: str) -> None: ...
    def copy(self, src: str, dst: str) -> None: ...


class LocalBackend:
    """A directory on a local (or shared POSIX) filesystem."""

    is_local = True

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)

    def _abs(self, path: str) -> str:
        return os.path.join(self.root, path)

    def read_bytes(self, path: str) -> bytes:
        """A regular file's bytes; never through a final symlink, never blocking on a FIFO."""
        fd = os.open(self._abs(path), _SAFE_OPEN)
        with open(fd, "rb", closefd=True) as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise IsADirectoryError(f"{path} is not a regular file")
            return f.read()

    def write_bytes(self, path: str, data: bytes, also: str | None = None) -> bool:
        """Write ``data`` to ``path`` atomically. ``also``: a second name for the same
        bytes (a hint, such as an early-cutoff alias): published first, as a hard link
        (one directory entry, no second write); best effort, so a failure there never
        fails the write. Returns whether ``also`` was published."""
        published = False
        with self.open_atomic(path) as f:
            f.write(data)
            if also is not None:
                f.close()
                published = self._publish_also(f.name, also, data)
        return published

    def _publish_also(self, tmp: str, also: str, data: bytes) -> bool:
        """Hard-link the finished temporary ``tmp`` at ``also`` (replacing what is there):
        the link names the bytes this writer wrote, whatever replaces ``path`` later.
        Where links are refused, ``data`` is written there instead."""
        dst = self._abs(also)
        try:
            try:
                os.link(tmp, dst)
            except FileNotFoundError:  # its directory's first entry
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                os.link(tmp, dst)
            return True
        except FileExistsError:  # an older one: replaced atomically
            _, second = self._tmp_for(also)
            try:
                os.link(tmp, second)
                os.replace(second, dst)
                return True
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(second)
                return False
        except OSError:  # links refused here: a copy
            try:
                self.write_bytes(also, data)
                return True
            except OSError:
                return False

    @contextlib.contextmanager
    def open_atomic(self, path: str) -> Iterator[BinaryIO]:
        """Yield a file in ``tmp/w<pid>/``; on success rename it to ``path``, else remove it."""
        final = self._abs(path)
        tmp_dir, tmp = self._tmp_for(path)
        try:
            f = open(tmp, "xb", buffering=0)  # noqa: SIM115 - closed below on every path
        except FileNotFoundError:  # first write to this store: create tmp/ on demand
            os.makedirs(tmp_dir, exist_ok=True)
            f = open(tmp, "xb", buffering=0)  # noqa: SIM115
        try:
            yield f  # type: ignore[misc]
            f.close()
            self._rename_into_place(tmp, final)
        except BaseException:
            f.close()
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _tmp_for(self, path: str) -> tuple[str, str]:
        """``tmp/w<pid>/`` (``TMP_SUBDIR``) and a fresh temporary name there (``TMP_NAME``)
        for ``path``."""
        tmp_dir = self._abs(f"{TMP_DIR}/w{os.getpid()}")
        hint = os.path.basename(path)[:80]
        return tmp_dir, os.path.join(tmp_dir, f"{hint}.{os.getpid()}.{secrets.token_hex(6)}.part")

    def copy(self, src: str, dst: str) -> None:
        """Publish the regular file ``src`` also at ``dst``, atomically: a hard link (no
        bytes copied) renamed into place, or a byte copy where links are refused. Never
        through a symlink; ``FileNotFoundError`` if ``src`` is missing."""
        full = self._abs(src)
        if not (_real_dirs(self.root, os.path.dirname(src))
                and stat.S_ISREG(os.lstat(full).st_mode)):
            raise IsADirectoryError(f"{src} is not a regular file in the store")
        tmp_dir, tmp = self._tmp_for(dst)
        try:
            try:
                os.link(full, tmp, follow_symlinks=False)
            except FileNotFoundError:  # no tmp/ yet (or src just vanished: raised again)
                os.makedirs(tmp_dir, exist_ok=True)
                os.link(full, tmp, follow_symlinks=False)
        except FileNotFoundError:
            raise
        except OSError:  # this filesystem refuses hard links: copy the bytes
            fd = os.open(full, _SAFE_OPEN)
            with open(fd, "rb", closefd=True) as f, self.open_atomic(dst) as out:
                shutil.copyfileobj(f, out, 1 << 20)
            return
        try:
            os.utime(tmp)  # a new name's age, for gc's rule on orphaned data
            self._rename_into_place(tmp, self._abs(dst))
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    @staticmethod
    def _rename_into_place(tmp: str, final: str) -> None:
        for _ in range(3):  # gc may remove an empty key directory between mkdir and rename
            try:
                os.replace(tmp, final)  # the directory usually exists: try first, mkdir on miss
                return
            except FileNotFoundError:
                if not os.path.exists(tmp):
                    raise
            os.makedirs(os.path.dirname(final), exist_ok=True)
        os.replace(tmp, final)

    def map(self, path: str, writable: bool) -> Any:
        """Memory-map a file: read-only ``pa.Buffer``, or a private copy-on-write mmap."""
        full = self._abs(path)
        if not writable:
            if not stat.S_ISREG(os.lstat(full).st_mode):
                raise IsADirectoryError(f"{path} is not a regular file")
            import pyarrow as pa  # imported once an object is read as a buffer

            with pa.memory_map(full, "r") as source:
                return source.read_buffer()
        fd = os.open(full, _SAFE_OPEN)
        with open(fd, "rb", closefd=True) as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise IsADirectoryError(f"{path} is not a regular file")
            if st.st_size == 0:
                return bytearray()
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)

    def exists_many(self, paths: Iterable[str]) -> set[str]:
        return {p for p in paths if os.path.isfile(self._abs(p))}

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for p in paths:
            # unreadable (a directory, a symlink, no permission) reads as absent: a miss
            with contextlib.suppress(OSError):
                out[p] = self.read_bytes(p)
        return out

    def list_files(self, prefix: str) -> Iterator[FileEntry]:
        yield from _walk(self.root, prefix)

    def delete(self, path: str) -> None:
        """Unlink ``path`` (never through a symlinked directory, never a directory)."""
        if not _real_dirs(self.root, os.path.dirname(path)):
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._abs(path))

    def move(self, src: str, dst: str) -> None:
        """Rename within the store; refuses to pass through symlinked directories."""
        if not (_real_dirs(self.root, os.path.dirname(src))
                and _real_dirs(self.root, os.path.dirname(dst))):
            raise OSError(f"refusing to move {src!r} to {dst!r}: a symlink on the way")
        os.makedirs(os.path.dirname(self._abs(dst)), exist_ok=True)
        os.replace(self._abs(src), self._abs(dst))

    def remove_empty_dirs(self, prefix: str) -> None:
        """Remove empty directories under ``prefix`` (bottom-up; races are harmless)."""
        if not _real_dirs(self.root, prefix):
            return
        for dirpath, _dirs, _files in os.walk(self._abs(prefix), topdown=False):
            with contextlib.suppress(OSError):
                os.rmdir(dirpath)

    def odd_entries(self, prefix: str, named: Callable[[str], bool]) -> list[str]:
        """Paths under ``prefix`` where a regular file is expected but something else is:
        symlinks, sockets, and directories whose path is ``named`` (a file's name)."""
        out, stack = [], [prefix]
        while stack and _real_dirs(self.root, prefix):
            rel = stack.pop()
            with contextlib.suppress(OSError):
                for entry in os.scandir(self._abs(rel)):
                    sub = f"{rel}/{entry.name}"
                    if entry.is_symlink():
                        out.append(sub)
                    elif entry.is_dir(follow_symlinks=False):
                        (out.append if named(sub) else stack.append)(sub)
                    elif not entry.is_file(follow_symlinks=False):
                        out.append(sub)
        return sorted(out)


def _real_dirs(root: str, rel: str) -> bool:
    """Whether every existing component of ``rel`` under ``root`` is a real directory
    (not a symlink, not a file): what gc and quarantine walk through must be ours."""
    path = root
    for part in [p for p in rel.split("/") if p]:
        path = os.path.join(path, part)
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return True
        except OSError:
            return False
        if not stat.S_ISDIR(mode):
            return False
    return True


def _walk(root: str, prefix: str) -> Iterator[FileEntry]:
    if not _real_dirs(root, prefix):
        return  # a symlink (or file) planted where our directory should be: not ours
    stack = [prefix]
    while stack:
        rel = stack.pop()
        try:
            entries = list(os.scandir(os.path.join(root, rel)))
        except (FileNotFoundError, NotADirectoryError):
            continue
        for entry in entries:
            sub = f"{rel}/{entry.name}"
            try:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(sub)
                elif entry.is_file(follow_symlinks=False):
                    st = entry.stat(follow_symlinks=False)
                    yield FileEntry(sub, st.st_size, st.st_mtime)
            except FileNotFoundError:
                continue


class ArrowBackend:
    """Any ``pyarrow.fs.FileSystem`` (S3, GCS, HDFS); requests run on a thread pool."""

    is_local = False

    def __init__(self, fs: pafs.FileSystem, root: str, threads: int = 16) -> None:
        self.fs = fs
        self.root = root.rstrip("/")
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None

    def _abs(self, path: str) -> str:
        return f"{self.root}/{path}" if self.root else path

    def _map(self, fn: Any, items: list[str]) -> list[Any]:
        if len(items) <= 1:
            return [fn(i) for i in items]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="digestflow-store")
        return list(self._pool.map(fn, items))

    def read_bytes(self, path: str) -> bytes:
        with self.fs.open_input_stream(self._abs(path)) as f:
            return f.read()

    def write_bytes(self, path: str, data: bytes, also: str | None = None) -> bool:
        """Write ``data`` to ``path``; ``also`` (best effort, written first): the same bytes
        under a second name, as ``LocalBackend.write_bytes``. Returns whether it was."""
        published = False
        if also is not None:
            try:
                with self.fs.open_output_stream(self._abs(also)) as f:
                    f.write(data)
                published = True
            except OSError:
                pass  # a hint: the write itself goes on
        with self.fs.open_output_stream(self._abs(path)) as f:
            f.write(data)
        return published

    @contextlib.contextmanager
    def open_atomic(self, path: str) -> Iterator[BinaryIO]:
        """Stream to the final name; the object store publishes it only on close.

        The store opens it only once a codec's output outgrows the manifest
        (``storage.inline``), so a codec that declines never reaches here.
        """
        stream = self.fs.open_output_stream(self._abs(path))
        try:
            yield stream
        except BaseException:
            with contextlib.suppress(Exception):
                stream.close()
                self.delete(path)
            raise
        stream.close()

    def map(self, path: str, writable: bool) -> Any:
        with self.fs.open_input_file(self._abs(path)) as f:
            if not writable:
                return f.read_buffer()
            data = bytearray(f.size())
            f.readinto(data)
            return data

    def exists_many(self, paths: Iterable[str]) -> set[str]:
        items = list(paths)
        infos = self._map(lambda p: self.fs.get_file_info(self._abs(p)), items)
        return {p for p, info in zip(items, infos, strict=True) if info.type == _pafs().FileType.File}

    def read_many(self, paths: Iterable[str]) -> dict[str, bytes]:
        def one(p: str) -> bytes | None:
            try:
                return self.read_bytes(p)
            except FileNotFoundError:
                return None

        items = list(paths)
        return {p: b for p, b in zip(items, self._map(one, items), strict=True) if b is not None}

    def list_files(self, prefix: str) -> Iterator[FileEntry]:
        selector = _pafs().FileSelector(self._abs(prefix), recursive=True, allow_not_found=True)
        cut = len(self.root) + 1 if self.root else 0
        for info in self.fs.get_file_info(selector):
            if info.type == _pafs().FileType.File:
                mtime = info.mtime.timestamp() if info.mtime is not None else 0.0
                yield FileEntry(info.path[cut:], info.size or 0, mtime)

    def delete(self, path: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.delete_file(self._abs(path))

    def move(self, src: str, dst: str) -> None:
        self.fs.move(self._abs(src), self._abs(dst))

    def copy(self, src: str, dst: str) -> None:
        """A server-side copy; the object store publishes ``dst`` whole or not at all."""
        if self.fs.get_file_info(self._abs(src)).type != _pafs().FileType.File:
            raise FileNotFoundError(src)
        self.fs.copy_file(self._abs(src), self._abs(dst))

    def remove_empty_dirs(self, prefix: str) -> None:
        """Object stores have no real directories; nothing to do."""
