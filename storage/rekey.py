"""Re-sign a store's pickles with its current key (the last step of a key rotation).

A pickle whose tag verifies under an older listed key gets a new header (the
current key's id and tag); its payload is copied unchanged and never
unpickled. Its data is written atomically and its manifest (new size and
content digest) last, as ``Store.put`` does. Pickles already under the current
key are left alone (old-format ones gain a key id); those that verify under no listed key, are corrupt or
carry no tag are reported and left for ``verify --repair`` or a recompute.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from storage import refs
from storage.codecs import HashingWriter, content_digest
from storage.codecs.pickled import Signed, sign, signer, split
from storage.errors import UnknownKeyError
from storage.inline import INLINE_LIMIT, SpillFile
from storage.maintenance import iter_objects
from storage.manifest import Manifest
from storage.reading import read_data
from storage.secret import key_id

if TYPE_CHECKING:
    from storage.store import Store


@dataclass
class RekeyReport:
    """What ``rekey`` did: counts by outcome and one line per object left alone."""

    current_id: str
    counts: Counter[str] = field(default_factory=Counter)  # rekeyed, current, skipped
    problems: list[tuple[str, int, str]] = field(default_factory=list)


def rekey(store: Store, *, dry_run: bool = False) -> RekeyReport:
    """Re-sign every pickle signed with an older listed key under the current key."""
    ring = store._secret()
    report = RekeyReport(current_id=key_id(ring.current).hex())
    for manifest, layout in iter_objects(store.backend):
        if manifest.codec != "pickle":
            continue
        outcome = _rekey_one(store, manifest, layout, dry_run)
        if outcome in ("rekeyed", "current"):
            report.counts[outcome] += 1
        else:
            report.counts["skipped"] += 1
            report.problems.append((manifest.key, manifest.socket, outcome))
    return report


def _rekey_one(store: Store, m: Manifest, layout: int, dry_run: bool) -> str:
    """``rekeyed``, ``current``, or why the object was left alone."""
    ring = store._secret()
    codec = store._registry.named(m.codec)
    try:
        buf = read_data(store.backend, m, codec, writable=False, layout=layout)
    except (FileNotFoundError, ValueError) as err:
        return f"unreadable ({err}); run `digestflow verify --repair`"
    if len(memoryview(buf)) != m.nbytes or content_digest(buf) != m.content_digest:
        return "corrupt (size or digest); run `digestflow verify --repair`"
    signed = split(buf)
    if signed is None:
        return "no authentication tag"
    try:
        secret = signer(signed, ring, m.key, m.socket)
    except UnknownKeyError:
        return f"signed with key {signed.kid.hex() if signed.kid else '?'}, not listed here"
    if secret is None:
        return "authentication tag verifies under no listed key"
    if secret == ring.current and signed.kid is not None:
        return "current"
    if not dry_run:
        _rewrite(store, m, (codec.ext, layout), signed, ring.current)
    return "rekeyed"


def _rewrite(store: Store, m: Manifest, where: tuple[str, int], signed: Signed,
             secret: bytes) -> None:
    """Rewrite the object in place, in the layout it is in (data, then manifest)."""
    ext, layout = where
    path = refs.data_path(m.key, m.socket, ext, layout)
    with contextlib.ExitStack() as stack:
        out = SpillFile(INLINE_LIMIT, lambda: stack.enter_context(store.backend.open_atomic(path)))
        sink = HashingWriter(out)
        sink.write(sign(secret, m.key, m.socket, signed.payload))
        sink.write(signed.payload)
    new = dataclasses.replace(
        m, nbytes=sink.nbytes, content_digest=sink.hexdigest(),
        summary={**m.summary, "key_id": key_id(secret).hex()},
        inline=None if out.spilled else out.inline_text(),
    )
    store.backend.write_bytes(refs.manifest_path(m.key, m.socket, layout), new.to_json())
