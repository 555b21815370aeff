"""The content-addressed output store: ``open_store`` and ``Store``.

State: a URI (and an explicit secret, if one was given), from which the
backend, codec registry and access log are rebuilt lazily, so a ``Store``
pickles to a few bytes and reopens its filesystem on a Ray worker.

Policy: an object is ``(key, socket)``; its data is written first (temp +
rename locally, a single upload on object stores) and its manifest last, so a
reader sees a whole object or none. ``get`` checks size and blake3 digest
(``verify="always"``, the default; ``$DIGESTFLOW_VERIFY`` sets the default of
every store a process opens, workers included) or only size (``"never"``).

Any object that exists but cannot be read, for any reason (malformed manifest,
unknown codec, size or digest mismatch, refused pickle, a directory or an
unreadable file where a file should be), is moved to ``quarantine/`` with the
reason, logged once, and raised as ``CorruptObjectError``: a miss the runner
recomputes. ``open_store`` checks the store's marker (``storage.marker``).
Paths follow layout 2 (``storage.refs``); a store not yet migrated from layout 1
is read at both layouts' paths (``storage.layout``, ``storage.migrate``).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import time
import urllib.parse
from collections.abc import Iterable, Iterator
from typing import Any

from storage import layout, maintenance, refs
from storage.access import AccessLog
from storage.backends import ArrowBackend, Backend, LocalBackend
from storage.codecs import CodecContext, CodecDeclined, HashingWriter
from storage.codecs import default_registry as _default_registry
from storage.errors import (
    CorruptObjectError,
    NotDecodableHere,
    ObjectNotFound,
    StorageError,
    UnknownKeyError,
    UntrustedPickleError,
)
from storage.inline import INLINE_LIMIT, SpillFile
from storage.manifest import GcReport, Manifest, StoreStats, VerifyIssue
from storage.marker import bump_epoch, ensure_store, read_epoch, store_layout
from storage.reading import (
    UNREADABLE_FILE,
    Unreadable,
    checked_data,
    clear_way,
    codec_of,
    parse_manifest,
)
from storage.reading import quarantine as _quarantine_object
from storage.refs import Ref
from storage.secret import ENV_VAR as ENV_SECRET
from storage.secret import KeyInput, Keyring, as_keys, resolve_keyring

ENV_STORE = "DIGESTFLOW_STORE"
ENV_VERIFY = "DIGESTFLOW_VERIFY"
DEFAULT_STORE = "./.digestflow"
VERIFY_POLICIES = ("always", "never")
log = logging.getLogger("digestflow.storage")


def open_store(
    uri: str | os.PathLike[str] | None = None,
    *,
    verify: str | None = None,
    secret: KeyInput | None = None,
    readonly: bool = False,
) -> Store:
    """Open the store at ``uri``: a path, ``file://``, or any URI
    ``pyarrow.fs.FileSystem.from_uri`` accepts. Default: ``$DIGESTFLOW_STORE`` or
    ``./.digestflow``. ``secret``: the pickle key, or a list of keys, current first
    (default: this machine's, see ``storage.secret``). A new or empty directory
    becomes a store; anything that is not a store (a file, a foreign directory, a
    bucket URI without a bucket), or is not writable unless ``readonly``, is
    refused here with a ``StorageError``."""
    if uri is None:
        uri = os.environ.get(ENV_STORE) or DEFAULT_STORE
    uri = os.fspath(uri)
    if not uri.strip():
        raise StorageError("the store location is empty: give a directory or a URI "
                           "(--store / DIGESTFLOW_STORE)")
    if "://" not in uri:
        uri = os.path.abspath(os.path.expanduser(uri))
    store = Store(uri, verify=verify, secret=secret)
    ensure_store(store.backend, _redact(uri), readonly=readonly)
    return store


def _make_backend(uri: str) -> Backend:
    if "://" not in uri:
        return LocalBackend(uri)
    if uri.startswith("file://"):
        return LocalBackend(urllib.parse.unquote(urllib.parse.urlparse(uri).path))
    import pyarrow.fs as pafs  # only remote stores need it (see backends._pafs)

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
        self, uri: str, *, verify: str | None = None, secret: KeyInput | None = None
    ) -> None:
        self._verify_arg = verify  # travels with a pickle; None: the worker's own env decides
        verify = verify or os.environ.get(ENV_VERIFY) or "always"
        if verify not in VERIFY_POLICIES:
            raise StorageError(f"verify must be one of {VERIFY_POLICIES} (from the verify "
                               f"option or ${ENV_VERIFY}), got {verify!r}")
        self.uri = uri
        self.verify = verify
        self._explicit_secret = as_keys(secret) if secret else None
        self._backend: Backend | None = None
        self._access: AccessLog | None = None
        self._registry = _default_registry()
        self._secret_cache: Keyring | None = None
        self._read_order: tuple[int, ...] | None = None

    # -- pickling: only the URI and options travel ------------------------------------
    def __reduce__(self) -> tuple[Any, ...]:
        return (_reopen, (self.uri, self._verify_arg, self._explicit_secret))

    def __repr__(self) -> str:
        return f"Store({_redact(self.uri)!r})"

    @property
    def backend(self) -> Backend:
        if self._backend is None:
            self._backend = _make_backend(self.uri)
        return self._backend

    def epoch(self) -> str:
        """A token that changes whenever objects are deleted (see ``storage.marker``)."""
        return read_epoch(self.backend)

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
    def put(self, key: Any, socket: int, value: Any, *, task: str | None = None,
            alias: str | None = None) -> Manifest:
        """Encode ``value`` and store it under ``(key, socket)``; return its manifest.

        ``alias``: a name (``[A-Za-z0-9._-]``) that also names this manifest, written
        before the object appears (a hard link where the filesystem allows it, so it
        costs one directory entry) and best effort: a hint for ``aliased``, such as
        an early-cutoff alias. It names the bytes this call wrote, even if another
        writer replaces the object later; gc removes it once no stored object holds
        those bytes."""
        key, socket = refs.key_hex(key), refs.check_socket(socket)
        also = None if alias is None else refs.alias_path(alias)
        try:
            return self._put(key, socket, value, task, also)
        except UNREADABLE_FILE as err:  # something not ours sits where the object goes
            log.warning("object %s/%s in %r: %s in the way; moved to quarantine/",
                        key, socket, self, type(err).__name__)
            for path in layout.object_paths(key, socket, self._registry.exts()):
                clear_way(self.backend, path)
            return self._put(key, socket, value, task, also)

    @property
    def _layouts(self) -> tuple[int, ...]:
        """The layouts reads look in: layout 1 too until the store is migrated."""
        if self._read_order is None:  # a migration meanwhile only costs useless fallbacks
            marked = store_layout(self.backend, _redact(self.uri))
            self._read_order = layout.read_layouts(marked)
        return self._read_order

    def _put(self, key: str, socket: int, value: Any, task: str | None,
             also: str | None) -> Manifest:
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
        self.backend.write_bytes(refs.manifest_path(key, socket), manifest.to_json(), also)
        return manifest

    def aliased(self, name: str) -> Manifest | None:
        """The manifest ``put(..., alias=name)`` published, or None: missing or
        unreadable (a hint, never quarantined). It names the object it was written
        for; whether that object still holds it is the caller's check."""
        try:
            return Manifest.from_json(self.backend.read_bytes(refs.alias_path(name)))
        except (OSError, StorageError):
            return None

    def get(self, key: Any, socket: int, *, verify: str | None = None, device: Any = None) -> Any:
        """The value stored under ``(key, socket)``.

        ``device``: None keeps tensors on the host; a device ("cuda", "cuda:1")
        moves them there; ``AS_STORED`` puts them on a device of the kind they were
        stored from ("cuda" for a CUDA tensor) when this process has one.
        Raises ``ObjectNotFound`` (a miss), ``CorruptObjectError`` (quarantined) or
        ``NotDecodableHere`` (whole, but this process lacks what decoding needs).
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
        manifest, codec, buf, at = self._load_checked(key, socket, policy)
        try:
            value = codec.decode(
                buf, manifest.summary, CodecContext(key, socket, self._secret, device)
            )
        except (ImportError, NotDecodableHere) as err:  # this process lacks something
            raise NotDecodableHere(
                f"cannot decode object {key}/{socket} ({manifest.codec}) here: {err}"
            ) from err
        except Exception as err:  # refused pickle, corrupt encoding: unreadable, so a miss
            self._quarantine(key, socket, _decode_problem(err), manifest, at)
        self.access_log.touch((key, socket))
        return value, manifest

    def _load_checked(
        self, key: str, socket: int, policy: str
    ) -> tuple[Manifest, Any, Any, int]:
        """Manifest, codec, data buffer and layout, checked; retried once if a writer
        replaced the object meanwhile; else the object is quarantined
        (``CorruptObjectError``)."""
        for attempt in range(2):
            manifest, at = self._manifest_at(key, socket)
            try:
                codec = codec_of(self._registry, manifest)
                buf = checked_data(self.backend, manifest, codec, policy, layout=at)
                return manifest, codec, buf, at
            except Unreadable as err:
                problem = str(err)
            if attempt == 0 and not self._unchanged(key, socket, manifest, at):
                continue
            self._quarantine(key, socket, problem, manifest, at)
        raise AssertionError("unreachable")

    def _unchanged(self, key: str, socket: int, manifest: Manifest, at: int) -> bool:
        """Whether ``manifest`` is still the object's (no writer replaced it meanwhile)."""
        try:
            found = layout.find_manifest(self.backend, key, socket, self._layouts)
            return found is not None and found[1] == at and (
                parse_manifest(found[0], key, socket) == manifest)
        except (OSError, ValueError, Unreadable, layout.UnreadableManifest):
            return False

    def manifest(self, key: Any, socket: int) -> Manifest:
        """The manifest of ``(key, socket)``; raises ``ObjectNotFound``, or
        ``CorruptObjectError`` after quarantining one that cannot be read."""
        key, socket = refs.key_hex(key), refs.check_socket(socket)
        return self._manifest_at(key, socket)[0]

    def _manifest_at(self, key: str, socket: int) -> tuple[Manifest, int]:
        """The manifest a read uses and the layout it was found in."""
        try:
            found = layout.find_manifest(self.backend, key, socket, self._layouts)
        except layout.UnreadableManifest as err:  # a directory, no permission: unreadable
            self._quarantine(key, socket, f"its manifest cannot be read ({err.kind})",
                             at=err.layout)
        if found is None:
            raise ObjectNotFound(f"no object {key}/{socket} in {self!r}")
        try:
            return parse_manifest(found[0], key, socket), found[1]
        except Unreadable as err:
            self._quarantine(key, socket, str(err), at=found[1])
        raise AssertionError("unreachable")

    def contains_many(self, refs_: Iterable[Any]) -> set[Ref]:
        """Which of ``refs_`` exist, as ``(hex, socket)``: one batch of stats/requests
        (a second one for those missing, in a store not yet migrated)."""
        return layout.exists_many(self.backend, map(refs.check_ref, refs_), self._layouts)

    def manifests_many(self, refs_: Iterable[Any]) -> dict[Ref, Manifest]:
        """Manifests of those of ``refs_`` that exist and are valid (an invalid one is a
        miss, moved aside when it is read), read concurrently on remote stores."""
        out: dict[Ref, Manifest] = {}
        raws = layout.read_manifests(self.backend, map(refs.check_ref, refs_), self._layouts)
        for ref, raw in raws.items():
            with contextlib.suppress(Unreadable):
                out[ref] = parse_manifest(raw, *ref)
        return out

    def delete(self, key: Any, socket: int | None = None) -> None:
        """Remove one object, or every socket of ``key`` (in every layout); manifests go
        first."""
        key = refs.key_hex(key)
        socket = None if socket is None else refs.check_socket(socket)
        files = layout.object_files(self.backend, key, socket)
        for path in files:
            self.backend.delete(path)
        if files:
            bump_epoch(self.backend)

    def iter_manifests(self) -> Iterator[Manifest]:
        """Every valid manifest in the store, one per object (the one a read would use;
        order unspecified)."""
        return maintenance.iter_manifests(self.backend)

    def _quarantine(self, key: str, socket: int, problem: str, manifest: Manifest | None = None,
                    at: int = refs.LAYOUT, *, raise_: bool = True) -> None:
        """Move the object aside (manifest first), log it, raise ``CorruptObjectError``."""
        where = _quarantine_object(self.backend, key, socket, problem, self._registry.exts(), at)
        what = "" if manifest is None else f" (task {manifest.task or '?'}, {manifest.codec})"
        message = (f"object {key}/{socket}{what} in {self!r} is unreadable: {problem}; "
                   f"moved to {where}; it will be recomputed")
        log.warning(message)
        if raise_:
            raise CorruptObjectError(message)

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
        orphaned data older than ``temp_age`` seconds (0: all), dangling aliases, and
        expired lock files (leases of drivers that crashed; reported as temporaries)."""
        ensure_store(self.backend, _redact(self.uri))  # never clean what is not a store
        self.access_log.flush()
        protected = maintenance.expand_protected(self.pins().values(), keep)
        report = maintenance.gc(self.backend, self._registry, protected,
                                (max_bytes, older_than), dry_run, temp_age)
        if not self.backend.is_local:
            return report
        from storage.locks import LockFiles  # leases of drivers sharing a local store

        swept = LockFiles(self.backend.root).sweep(temp_age, dry_run)
        return dataclasses.replace(report, temporaries=report.temporaries + tuple(swept))

    def verify_all(self, repair: bool = False) -> list[VerifyIssue]:
        """Read every object as a run would (manifest, codec, size, digest, pickle tag);
        with ``repair``, quarantine each one that fails."""
        ensure_store(self.backend, _redact(self.uri), readonly=not repair)
        return maintenance.verify_all(self.backend, self._registry, self._secret, repair)

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
            try:
                out[path.rsplit("/", 1)[-1][: -len(".json")]] = [
                    (refs.key_hex(k), None if s is None else refs.check_socket(s))
                    for k, s in json.loads(raw)["refs"]
                ]
            except (ValueError, TypeError, KeyError, RecursionError, StorageError) as err:
                raise StorageError(f"pin file {path} in {self!r} is malformed ({err}); gc "
                                   "will not guess what it protects: fix or delete it") from None
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


def _reopen(uri: str, verify: str | None, secret: tuple[bytes, ...] | None) -> Store:
    """Unpickling: a fresh Store (its filesystem is reopened on first use)."""
    return Store(uri, verify=verify, secret=secret)


def _decode_problem(err: Exception) -> str:
    if isinstance(err, UnknownKeyError):
        return str(err)  # it says which key and what to do
    if isinstance(err, UntrustedPickleError):
        why = str(err).split(". Unpickling")[0]
        return (f"{why} (if several machines share this store, set {ENV_SECRET} to the "
                "same value on all of them)")
    return f"it cannot be decoded ({type(err).__name__}: {err})"
