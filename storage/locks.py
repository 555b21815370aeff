"""Lock-file leases: single-flight for drivers that share only a store on a filesystem.

One file per leased key, ``locks/<key>.lock`` under the store root (names from
``storage.refs``), holding who took it (owner, host, pid) and its TTL. The
protocol mirrors the index actor's leases:

- acquire: write the holder record to a private name in ``locks/``, then
  ``os.link`` it to the lock name. A hard link is created atomically and
  fails if the name exists, on local filesystems and on NFS alike (where
  ``O_EXCL`` was not always atomic).
- a lock expires ``ttl`` seconds after its mtime; the holder renews it by
  touching it (``os.utime``) while its run lives.
- an expired lock (a crashed holder) is taken over: it is renamed to a
  private name (atomic: of two contenders one wins), checked to be the very
  file that was judged expired (else linked back), removed, and created anew.
- release: the holder's own lock goes the same way (move, check, remove).
- sweep (gc): expired locks nobody asked for again (their holder crashed)
  are removed the same way as a takeover, and private ``.new``/``.old`` names
  a killed process left behind once they are older than gc's ``temp_age``.

A lock whose record cannot be read counts as held until its mtime plus the
asker's TTL: nothing blocks anyone past an expiry. Times are this host's
clock against the file's mtime; on a network filesystem keep clocks in sync
(skew well under the TTL).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from storage.refs import LOCK_DIR, key_hex, lock_path

__all__ = ["LockFiles", "LockInfo", "UNREADABLE"]

UNREADABLE = "<unreadable lock>"  # holder reported for a lock whose record is garbage
_ATTEMPTS = 4  # create / take over rounds per key before reporting the current holder
_LOCK = re.compile(r"[0-9a-f]{64}\.lock")
_PRIVATE = re.compile(r"[0-9a-f]{64}\.lock\.[0-9a-f]{12}\.(new|old)")  # _create, _remove_if


@dataclass(frozen=True)
class LockInfo:
    """A lock file's record and the stat that dates it."""

    owner: str
    host: str
    pid: int
    ttl: float
    mtime: float
    inode: int

    def expired(self, now: float) -> bool:
        return self.mtime + self.ttl <= now


class LockFiles:
    """Leases as lock files in a local (or shared POSIX) store root; see module docstring."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.dir = os.path.join(self.root, LOCK_DIR)

    def acquire(self, keys: Iterable[str], owner: str, ttl: float) -> dict[str, str]:
        """key -> holder: ``owner`` where granted (or renewed), else who holds it."""
        os.makedirs(self.dir, exist_ok=True)
        return {key: self._acquire_one(key_hex(key), owner, ttl) for key in keys}

    def release(self, keys: Iterable[str], owner: str) -> None:
        """Remove the locks of ``keys`` that ``owner`` holds; others' locks stay."""
        for key in keys:
            path = self._path(key_hex(key))
            info = self.read(path)
            if info is not None and info.owner == owner:
                self._remove_if(path, lambda moved, seen=info: moved.inode == seen.inode)

    def holder(self, key: str) -> LockInfo | None:
        """The current lock record of ``key`` (expired or not), or None."""
        return self.read(self._path(key_hex(key)))

    def sweep(self, temp_age: float, dry_run: bool = False) -> list[str]:
        """Remove expired locks (an unreadable one counts as held for ``temp_age``) and
        private names older than ``temp_age``; returns their store paths. Only the names
        this module writes; a lock renewed or taken over meanwhile stays."""
        try:
            names = sorted(os.listdir(self.dir))
        except (FileNotFoundError, NotADirectoryError):
            return []
        now, gone = time.time(), []
        for name in names:
            path = os.path.join(self.dir, name)
            if _LOCK.fullmatch(name):
                info = self.read(path, default_ttl=temp_age)
                if info is None or not info.expired(now) or not (dry_run or self._remove_if(
                        path, lambda moved, seen=info: _same_and_expired(moved, seen))):
                    continue
            elif _PRIVATE.fullmatch(name):
                try:
                    st = os.lstat(path)
                    if not stat.S_ISREG(st.st_mode) or st.st_mtime > now - temp_age:
                        continue
                    if not dry_run:
                        os.unlink(path)
                except OSError:
                    continue
            else:
                continue
            gone.append(f"{LOCK_DIR}/{name}")
        return gone

    def _path(self, key: str) -> str:
        return os.path.join(self.root, lock_path(key))

    def _acquire_one(self, key: str, owner: str, ttl: float) -> str:
        path = self._path(key)
        for _ in range(_ATTEMPTS):
            info = self.read(path, default_ttl=ttl)
            if info is None:
                if self._create(path, owner, ttl):
                    return owner
                continue  # another contender created it first: read whose it is
            if info.owner == owner:
                try:
                    os.utime(path)  # renewal
                    return owner
                except FileNotFoundError:
                    continue
            if not info.expired(time.time()):
                return info.owner
            self._remove_if(path, lambda moved, seen=info: _same_and_expired(moved, seen))
        info = self.read(path, default_ttl=ttl)
        return info.owner if info is not None else UNREADABLE

    def _create(self, path: str, owner: str, ttl: float) -> bool:
        record = {"owner": owner, "host": socket.gethostname(), "pid": os.getpid(), "ttl": ttl}
        tmp = f"{path}.{secrets.token_hex(6)}.new"
        with open(tmp, "w") as f:
            json.dump(record, f)
        try:
            os.link(tmp, path)
            return True
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)

    def _remove_if(self, path: str, still: Callable[[LockInfo], bool]) -> bool:
        """Move ``path`` aside; remove it if ``still(moved info)`` holds, else put it back.
        Returns whether the lock judged was removed."""
        tomb = f"{path}.{secrets.token_hex(6)}.old"
        try:
            os.rename(path, tomb)
        except FileNotFoundError:
            return False  # another contender moved it first
        try:
            moved = self.read(tomb)
            if moved is not None and not still(moved):
                with contextlib.suppress(FileExistsError):
                    os.link(tomb, path)  # not the lock we judged: restore it
                return False
            return True
        finally:
            os.unlink(tomb)

    def read(self, path: str, default_ttl: float = 0.0) -> LockInfo | None:
        """A lock's record; an unreadable one reads as ``UNREADABLE`` with the given TTL."""
        try:
            with open(path, "rb") as f:
                st = os.fstat(f.fileno())
                raw = f.read(4096)
        except (FileNotFoundError, NotADirectoryError):
            return None
        try:
            rec = json.loads(raw)
            return LockInfo(owner=str(rec["owner"]), host=str(rec["host"]), pid=int(rec["pid"]),
                            ttl=float(rec["ttl"]), mtime=st.st_mtime, inode=st.st_ino)
        except (ValueError, KeyError, TypeError):
            return LockInfo(owner=UNREADABLE, host="", pid=0, ttl=default_ttl,
                            mtime=st.st_mtime, inode=st.st_ino)


def _same_and_expired(moved: LockInfo, seen: LockInfo) -> bool:
    """The file we moved is the one judged expired, not a renewed or a fresh one."""
    return moved.inode == seen.inode and moved.expired(time.time())
