"""The secret that authenticates pickles, and the HMAC over them.

Resolution order: an explicit ``secret=`` given to ``open_store``; else
``$DIGESTFLOW_SECRET`` (read when first needed, so a worker uses its own
environment); else, for a local store only, ``<root>/secret.key``: 32 random
bytes created once, atomically (write a 0600 temp file, ``link`` it into
place), and refused later unless it is owned by us and not readable by group or
others. A remote store without a secret cannot write or read pickles: the
secret must never sit in the bucket next to the data it protects.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat

from storage.errors import StorageError

ENV_VAR = "DIGESTFLOW_SECRET"
KEY_FILE = "secret.key"
TAG_SIZE = 32
_DOMAIN = b"digestflow-pickle-v1\x00"


def resolve_secret(explicit: bytes | None, local_root: str | None, uri: str) -> bytes:
    """Return the pickle secret, creating the local key file if needed."""
    if explicit:
        return explicit
    env = os.environ.get(ENV_VAR)
    if env:
        return env.encode()
    if local_root is not None:
        return key_file_secret(os.path.join(local_root, KEY_FILE))
    raise StorageError(
        f"store {uri!r} is remote and {ENV_VAR} is not set, so pickled values cannot be "
        f"authenticated. Set {ENV_VAR} to the same long random string on every machine "
        "(e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`), or return "
        "Arrow tables, arrays, tensors or plain builtin values instead."
    )


def key_file_secret(path: str) -> bytes:
    """Read ``path``, creating it first (0600, atomically) if it does not exist."""
    try:
        return _read_key_file(path)
    except FileNotFoundError:
        pass
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, secrets.token_bytes(32))
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)  # atomic create-if-absent: a concurrent creator wins cleanly
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return _read_key_file(path)


def _read_key_file(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise StorageError(
                f"refusing pickle secret {path}: it must be owned by you with mode 0600 "
                f"(is uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o}); fix it with "
                f"`chmod 600 {path}` or set {ENV_VAR}"
            )
        data = os.read(fd, 4096)
    finally:
        os.close(fd)
    if len(data) < 16:
        raise StorageError(f"pickle secret {path} is truncated; delete it to create a new one")
    return data


def pickle_tag(secret: bytes, key: str, socket: int, payload: memoryview | bytes) -> bytes:
    """HMAC-SHA256 over the payload, bound to the object's address."""
    mac = hmac.new(secret, _DOMAIN, hashlib.sha256)
    mac.update(f"{key}\x00{socket}\x00".encode())
    mac.update(payload)
    return mac.digest()


def tag_matches(secret: bytes, key: str, socket: int, payload: memoryview, tag: bytes) -> bool:
    return hmac.compare_digest(pickle_tag(secret, key, socket, payload), tag)
