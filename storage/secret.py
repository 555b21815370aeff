"""The keys that authenticate pickles, where a process finds them, and the HMAC.

A store holds a *keyring*: the current key first (new pickles are signed with
it), older keys after (pickles signed with them still load, until
``verify --rekey`` re-signs them and the old key is dropped). Each signed
object records the *key id* of the key that signed it: 8 bytes of a
domain-tagged blake3 digest of the key, never the key.

Resolution order (the first one set wins; each is read when first needed, so a
Ray worker uses its own node's configuration, never one shipped with a job):

1. ``secret=`` given to ``open_store``: one key or a list, current first;
2. ``$DIGESTFLOW_SECRET``: one key;
3. ``$DIGESTFLOW_SECRET_FILE``: a text file, one key per line, current first
   (blank lines and ``#`` comments skipped), owned by this user, mode 0600;
4. ``$DIGESTFLOW_SECRET_PROVIDER=module:function``: a callable returning a key
   or a list of keys (a cloud secret manager's client), called once per process;
5. a local store only: ``<root>/secret.key``, 32 random bytes created once,
   atomically (a 0600 temp file ``link``ed into place), refused later unless
   owned by us and not readable by group or others.

A remote store without a key cannot write or read pickles: the key must never
sit in the bucket next to the data it protects. See docs/security.md.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
import os
import secrets
import stat
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import blake3

from storage.errors import StorageError

ENV_VAR = "DIGESTFLOW_SECRET"
FILE_VAR = "DIGESTFLOW_SECRET_FILE"
PROVIDER_VAR = "DIGESTFLOW_SECRET_PROVIDER"
KEY_FILE = "secret.key"
TAG_SIZE = 32
KEY_ID_SIZE = 8
_DOMAIN = b"digestflow-pickle-v1\x00"
_KEY_ID_DOMAIN = b"digestflow-pickle-key-id-v1\x00"
_PROVIDED: dict[str, tuple[bytes, ...]] = {}  # provider spec -> keys, once per process

KeyInput = bytes | str | Sequence[bytes | str]


def key_id(secret: bytes) -> bytes:
    """The key's public name: a short digest, safe to store and print (as hex)."""
    return blake3.blake3(_KEY_ID_DOMAIN + secret).digest()[:KEY_ID_SIZE]


@dataclass(frozen=True)
class Keyring:
    """Pickle keys, current first. ``repr`` shows key ids only."""

    keys: tuple[bytes, ...]
    source: str = "explicit"

    def __post_init__(self) -> None:
        if not self.keys or any(not k for k in self.keys):
            raise StorageError(f"pickle keys from {self.source}: a key is empty")

    def __repr__(self) -> str:
        return f"Keyring({', '.join(self.ids())} from {self.source})"

    @property
    def current(self) -> bytes:
        return self.keys[0]

    def ids(self) -> list[str]:
        return [key_id(k).hex() for k in self.keys]

    def find(self, kid: bytes) -> bytes | None:
        """The listed key whose id is ``kid``, if any."""
        return next((k for k in self.keys if hmac.compare_digest(key_id(k), kid)), None)


def as_keys(value: KeyInput) -> tuple[bytes, ...]:
    """``secret=`` as given (a key, or a list of keys current first) as bytes."""
    items = [value] if isinstance(value, bytes | str) else list(value)
    return tuple(k.encode() if isinstance(k, str) else bytes(k) for k in items)


def resolve_keyring(explicit: tuple[bytes, ...] | None, local_root: str | None,
                    uri: str) -> Keyring:
    """The keyring this process uses for the store at ``uri`` (see the module docs)."""
    if explicit:
        return Keyring(explicit, "open_store(secret=...)")
    env = os.environ.get(ENV_VAR)
    if env:
        return Keyring((env.encode(),), f"${ENV_VAR}")
    path = os.environ.get(FILE_VAR)
    if path:
        return Keyring(read_key_list(os.path.expanduser(path)), f"${FILE_VAR} ({path})")
    spec = os.environ.get(PROVIDER_VAR)
    if spec:
        return Keyring(provided_keys(spec), f"${PROVIDER_VAR} ({spec})")
    if local_root is not None:
        return Keyring((key_file_secret(os.path.join(local_root, KEY_FILE)),), KEY_FILE)
    raise StorageError(
        f"store {uri!r} is remote and no pickle key is configured here, so pickled values "
        f"cannot be authenticated. Give this machine the same key as every other: "
        f"{FILE_VAR}=/path/to/keyfile (one key per line, mode 0600), {ENV_VAR}, or "
        f"{PROVIDER_VAR}=module:function; on a Ray cluster set it in each node's setup, "
        "never in a job's env (docs/security.md). Or return Arrow tables, arrays, tensors "
        "or plain builtin values instead."
    )


def read_key_list(path: str) -> tuple[bytes, ...]:
    """Keys from a text key file: one per line, current first, private to this user."""
    data = _read_private(path, hint=f"unset {FILE_VAR}")
    lines = [ln.strip() for ln in data.decode("utf-8", "replace").splitlines()]
    keys = [ln for ln in lines if ln and not ln.startswith("#")]
    if any(k.startswith(f"{ENV_VAR}=") for k in keys):
        raise StorageError(f"{path} looks like an env file ({ENV_VAR}=...): a key file "
                           "holds only the keys, one per line, current first")
    if not keys:
        raise StorageError(f"{FILE_VAR} {path} holds no key: write one per line")
    return tuple(k.encode() for k in keys)


def provided_keys(spec: str) -> tuple[bytes, ...]:
    """Call the ``module:function`` secret-manager hook once per process."""
    if spec not in _PROVIDED:
        module, _, name = spec.partition(":")
        try:
            fn = getattr(importlib.import_module(module), name)
            value: Any = fn()
        except Exception as err:
            raise StorageError(f"{PROVIDER_VAR}={spec!r} failed: {type(err).__name__}: "
                               f"{err} (expected module:function returning a key or a "
                               "list of keys, current first)") from err
        _PROVIDED[spec] = as_keys(value)
    return _PROVIDED[spec]


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
    data = _read_private(path, hint=f"set {ENV_VAR}")
    if len(data) < 16:
        raise StorageError(f"pickle secret {path} is truncated; delete it to create a new one")
    return data


def _read_private(path: str, hint: str) -> bytes:
    """A file's bytes, refused unless owned by us and closed to group and others."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise StorageError(
                f"refusing pickle secret {path}: it must be owned by you with mode 0600 "
                f"(is uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o}); fix it with "
                f"`chmod 600 {path}` or {hint}"
            )
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def pickle_tag(secret: bytes, key: str, socket: int, payload: memoryview | bytes) -> bytes:
    """HMAC-SHA256 over the payload, bound to the object's address."""
    mac = hmac.new(secret, _DOMAIN, hashlib.sha256)
    mac.update(f"{key}\x00{socket}\x00".encode())
    mac.update(payload)
    return mac.digest()


def tag_matches(secret: bytes, key: str, socket: int, payload: memoryview, tag: bytes) -> bool:
    return hmac.compare_digest(pickle_tag(secret, key, socket, payload), tag)
