"""The content-addressed output store: ``open_store`` and ``Store``.

State: a URI (and an explicit secret, if one was given), from which the
backend, codec registry and access log are rebuilt lazily, so a ``Store``
pickles to a few bytes and reopens its filesystem on a Ray worker.

Policy: an object is ``(key, socket)``; its data is written first (temp +
rename locally, a single upload on object stores) and its manifest last, so a
reader sees a whole object or none. ``get`` checks size and blake3 digest
(``verify="always"``, the default) or only size (``"never"``); a mismatch moves
the object to ``quarantine/`` and raises ``CorruptObjectError``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow.fs as pafs

from keys.errors import DigestflowError
from storage import maintenance, refs
from storage.access import AccessLog
from storage.backends import ArrowBackend, Backend, LocalBackend
from storage.codecs import CodecContext, CodecDeclined, HashingWriter, content_digest
from storage.codecs import default_registry as _default_registry
from storage.errors import CorruptObjectError, ObjectNotFound, StorageError, UnknownKeyError
from storage.inline import INLINE_LIMIT, SpillFile, decode_inline
from storage.manifest import GcReport, Manifest, StoreStats, VerifyIssue
from storage.refs import Ref
from storage.secret import KeyInput, Keyring, as_keys, resolve_keyring

ENV_STORE = "DIGESTFLOW_STORE"
DEFAULT_STORE = "./.digestflow"
VERIFY_POLICIES = ("always", "never")


def open_store(
    uri: str | os.PathLike[str] | None = None,
    *,
    verify: str = "always",
    secret: KeyInput | None = None,
) -> Store:
    """Open (creating lazily) the store at ``uri``: a path, ``file://``, or any URI
    ``pyarrow.fs.FileSystem.from_uri`` accepts. Default: ``$DIGESTFLOW_STORE`` or
    ``./.digestflow``. ``secret``: the pickle key, or a list of keys, current first
    (default: this machine's, see ``storage.secret``)."""
    if uri is None:
        uri = os.environ.get(ENV_STORE) or DEFAULT_STORE
    uri = os.fspath(uri)
    if "://" not in uri:
        uri = os.path.abspath(os.path.expanduser(uri))
    return Store(uri, verify=verify, secret=secret)


def _make_backend(uri: str) -> Backend:
    if "://" not in uri:
        return LocalBackend(uri)
    if uri.startswith("file://"):
        return LocalBackend(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    try:
        fs, path = pafs.FileSystem.from_uri(uri)
    except (ValueError, OSError) as err:
        raise StorageError(f"cannot open store {_redact(uri)!r}: {err}") from err
    if isinstance(fs, pafs.LocalFileSystem):
        return LocalBackend(path)
    return ArrowBackend(fs, path)


def _redact(uri: str) -> str:
    parts = urllib.parse.urlsplit(uri)
    if parts.password is None and parts.username is None:
        return uri
    return urllib.parse.urlunsplit(parts._replace(netloc=f"***@{parts.hostname or ''}"))


class Store:
    """A content-addressed store of task outputs. Create with ``open_store``."""

    def __init__(
        self, uri: str, *, verify: str = "always", secret: KeyInput | None = None
    ) -> None:
        if verify not in VERIFY_POLICIES:
            raise StorageError(f"verify must be one of {VERIFY_POLICIES}, got {verify!r}")
        self.uri = uri
        self.verify = verify
        self._explicit_secret = as_keys(secret) if secret else None
        self._backend: Backend | None = None
        self._access: AccessLog | None = None
        self._registry = _default_registry()
        self._secret_cache: Keyring | None = None

    # -- pickling: only the URI and options travel ------------------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (self.uri, self.verify, self._explicit_secret))

    def __repr__(self) -> str:
        return f"Store({_redact(self.uri)!r})"

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = _make_backend(self.uri)
        return self._backend

    @property
    def access_log(self) -> AccessLog:
        if self._access is None:
            self._access = AccessLog(self.backend)
        return self._access

    def _secret(self) -> Keyring:
        if self._secret_cache is None:
            backend = self.backend
            local_root = backend.root if backend.is_local else None
            self._secret_cache = resolve_keyring(
                self._explicit_secret, local_root, _redact(self.uri)
            )
        return self._secret_cache

    # -- objects ----------------------------------------------------------------------
    def put(self, key: Any, socket: int, value: Any, *, task: str | None = None) -> Manifest:
        """Encode ``value`` and store it under ``(key, socket)``; return its manifest."""
        key, socket = refs.key_hex(key), refs.check_socket(socket)
        ctx = CodecContext(key, socket, self._secret)
        declined: frozenset[str] = frozenset()
        while True:
            codec = self._registry.for_value(value, declined)
            path = refs.data_path(key, socket, codec.ext)
            try:
                with contextlib.ExitStack() as stack:  # the data file opens only if it spills
                    out = SpillFile(INLINE_LIMIT,
                                    lambda p=path: stack.enter_context(self.backend.open_atomic(p)))
                    sink = HashingWriter(out)
                    summary = codec.encode(value, sink, ctx)
                break
            except CodecDeclined:
                declined |= {codec.name}
        manifest = Manifest(
            key=key,
            socket=socket,
            codec=codec.name,
            nbytes=sink.nbytes,
            content_digest=sink.hexdigest(),
            summary=summary,
            created=time.time(),
            task=task,
            inline=None if out.spilled else out.inline_text(),
        )
        self.backend.write_bytes(refs.manifest_path(key, socket), manifest.to_json())
        return manifest

    def get(self, key: Any, socket: int, *, verify: str | None = None, device: Any = None) -> Any:
        """The value stored under ``(key, socket)``.

        Raises ``ObjectNotFound`` (a miss) or ``CorruptObjectError`` (quarantined).
        """
        return self.load(key, socket, verify=verify, device=device)[0]

    def load(
        self, key: Any, socket: int, *, verify: str | None = None, device: Any = None
    ) -> tuple[Any, Manifest]:
        """``get`` plus the manifest it was checked against (one manifest read)."""
        key, socket = refs.key_hex(key), refs.check_socket(socket)
        policy = self.verify if verify is None else verify
        if policy not in VERIFY_POLICIES:
            raise StorageError(f"verify must be one of {VERIFY_POLICIES}, got {policy!r}")
        manifest, buf = self._load_checked(key, socket, policy)
        codec = self._registry.named(manifest.codec)
        try:
            value = codec.decode(
                buf, manifest.summary, CodecContext(key, socket, self._secret, device)
            )
        except (CorruptObjectError, UnknownKeyError) as err:
            self._quarantine(manifest, str(err))
        except DigestflowError:
            raise
        except Exception as err:
            raise StorageError(
                f"cannot decode object {key}/{socket} ({manifest.codec}): {err}"
            ) from err
        self.access_log.touch((key, socket))
        return value, manifest

    def _load_checked(self, key: str, socket: int, policy: str) -> tuple[Manifest, Any]:
        """Manifest and data buffer, checked; retried once if a writer replaced the object."""
        for attempt in range(2):
            manifest = self.manifest(key, socket)
            codec = self._registry.named(manifest.codec)
            try:
                buf = read_data(self.backend, manifest, codec)
            except FileNotFoundError:
                problem = "its data file is missing"
            except ValueError as err:
                problem = str(err)
            else:
                problem = _check(buf, manifest, policy)
                if problem is None:
                    return manifest, buf
            if attempt == 0 and self.manifest(key, socket) != manifest:
                continue
            self._quarantine(manifest, problem)
        raise AssertionError("unreachable")

    def manifest(self, key: Any, socket: int) -> Manifest:
        """The manifest of ``(key, socket)``; raises ``ObjectNotFound``."""
        key, socket = refs.key_hex(key), refs.check_socket(socket)
        try:
            raw = self.backend.read_bytes(refs.manifest_path(key, socket))
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(f"no object {key}/{socket} in {self!r}") from None
        try:
            manifest = Manifest.from_json(raw)
            if manifest.ref != (key, socket):
                raise StorageError(f"it names {manifest.key}/{manifest.socket}")
        except StorageError as err:
            where = maintenance.quarantine_manifest(self.backend, key, socket)
            raise CorruptObjectError(
                f"object {key}/{socket} has a bad manifest ({err}); moved to {where} - recompute it"
            ) from err
        return manifest

    def contains_many(self, refs_: Iterable[Any]) -> set[Ref]:
        """Which of ``refs_`` exist, as ``(hex, socket)``: one batch of stats/requests."""
        paths = {refs.manifest_path(*r): r for r in map(refs.check_ref, refs_)}
        return {paths[p] for p in self.backend.exists_many(paths)}

    def manifests_many(self, refs_: Iterable[Any]) -> dict[Ref, Manifest]:
        """Manifests of those of ``refs_`` that exist, read concurrently on remote stores."""
        paths = {refs.manifest_path(*r): r for r in map(refs.check_ref, refs_)}
        out: dict[Ref, Manifest] = {}
        for path, raw in self.backend.read_many(paths).items():
            with contextlib.suppress(StorageError):
                manifest = Manifest.from_json(raw)
                if manifest.ref == paths[path]:
                    out[paths[path]] = manifest
        return out

    def delete(self, key: Any, socket: int | None = None) -> None:
        """Remove one object, or every socket of ``key``; manifests go first."""
        key = refs.key_hex(key)
        prefix = None if socket is None else f"{refs.check_socket(socket)}."
        files = [
            e.path
            for e in self.backend.list_files(refs.key_dir(key))
            if prefix is None or e.path.rsplit("/", 1)[-1].startswith(prefix)
        ]
        files.sort(key=lambda p: not p.endswith(refs.MANIFEST_SUFFIX))
        for path in files:
            self.backend.delete(path)

    def iter_manifests(self) -> Iterator[Manifest]:
        """Every valid manifest in the store (order unspecified)."""
        return maintenance.iter_manifests(self.backend)

    def _quarantine(self, manifest: Manifest, problem: str) -> None:
        """Move the object aside (manifest first) and raise ``CorruptObjectError``."""
        where = maintenance.quarantine(
            self.backend, manifest, self._registry.named(manifest.codec).ext
        )
        raise CorruptObjectError(
            f"object {manifest.key}/{manifest.socket} (task {manifest.task or '?'}, "
            f"{manifest.codec}) is corrupt: {problem}; moved to {where} - recompute it"
        )

    # -- maintenance ------------------------------------------------------------------
    def stats(self) -> StoreStats:
        return maintenance.stats(self.iter_manifests())

    def gc(
        self,
        max_bytes: int | None = None,
        older_than: float | None = None,
        keep: Iterable[Any] = (),
        dry_run: bool = False,
        *,
        temp_age: float = 600.0,
    ) -> GcReport:
        """Evict least recently used objects (never pinned or ``keep`` ones) until under
        ``max_bytes`` and/or unused for ``older_than`` seconds; remove temporaries and
        orphaned data older than ``temp_age`` seconds (0: all)."""
        self.access_log.flush()
        protected = maintenance.expand_protected(self.pins().values(), keep)
        return maintenance.gc(self, protected, max_bytes, older_than, dry_run, temp_age)

    def verify_all(self, repair: bool = False) -> list[VerifyIssue]:
        """Check every object's size and digest; with ``repair``, quarantine bad ones."""
        return maintenance.verify_all(self, repair)

    def flush(self) -> None:
        """Write this process's access log now (it is otherwise written lazily)."""
        if self._access is not None:
            self._access.flush()

    # -- pins and documents -------------------------------------------------------------
    def pin(self, name: str, refs_: Iterable[Any]) -> None:
        """Make ``refs_`` (``(key, socket)`` pairs, or keys for all sockets) a named gc root."""
        rows = [
            [refs.key_hex(r), None] if not isinstance(r, tuple | list) else list(refs.check_ref(r))
            for r in refs_
        ]
        self.backend.write_bytes(refs.pin_path(name), json.dumps({"refs": rows}).encode())

    def unpin(self, name: str) -> None:
        self.backend.delete(refs.pin_path(name))

    def pins(self) -> dict[str, list[tuple[str, int | None]]]:
        files = [e.path for e in self.backend.list_files("pins") if e.path.endswith(".json")]
        out: dict[str, list[tuple[str, int | None]]] = {}
        for path, raw in self.backend.read_many(files).items():
            out[path.rsplit("/", 1)[-1][: -len(".json")]] = [
                (k, s) for k, s in json.loads(raw)["refs"]
            ]
        return out

    def put_doc(self, kind: str, name: str, obj: dict[str, Any]) -> None:
        """Store a small JSON document (run record, recipe) atomically."""
        # compact and unsorted: run records carry one recipe per node and are written per run
        data = json.dumps(obj, separators=(",", ":"), allow_nan=False).encode()
        self.backend.write_bytes(refs.doc_path(kind, name), data)

    def get_doc(self, kind: str, name: str) -> dict[str, Any]:
        try:
            return json.loads(self.backend.read_bytes(refs.doc_path(kind, name)))
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(f"no {kind} document {name!r} in {self!r}") from None

    def delete_doc(self, kind: str, name: str) -> None:
        """Remove a document; removing one that is not there is not an error."""
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            self.backend.delete(refs.doc_path(kind, name))

    def list_docs(self, kind: str) -> list[str]:
        prefix = f"docs/{refs.check_name(kind, 'kind')}"
        names = (e.path.rsplit("/", 1)[-1] for e in self.backend.list_files(prefix))
        return sorted(n[: -len(".json")] for n in names if n.endswith(".json"))


def read_data(backend: Any, manifest: Manifest, codec: Any, writable: bool | None = None) -> Any:
    """The object's bytes: from its manifest when inline, else mapped from its data file."""
    writable = codec.writable if writable is None else writable
    if manifest.inline is not None:
        return decode_inline(manifest.inline, writable)
    return backend.map(refs.data_path(manifest.key, manifest.socket, codec.ext), writable)


def _reopen(uri: str, verify: str, secret: tuple[bytes, ...] | None) -> Store:
    """Unpickling: a fresh Store (its filesystem is reopened on first use)."""
    return Store(uri, verify=verify, secret=secret)


def _check(buf: Any, manifest: Manifest, policy: str) -> str | None:
    size = len(memoryview(buf))
    if size != manifest.nbytes:
        return f"it has {size} bytes, its manifest says {manifest.nbytes}"
    if policy == "always" and content_digest(buf) != manifest.content_digest:
        return "its content digest does not match its manifest"
    return None
