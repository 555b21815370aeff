"""Early cutoff (X5): reuse a node's earlier outputs when its inputs' *content* recurs.

A node's reference key is built from its parents' keys, so when a parent
re-runs under a new key every descendant misses, even when the parent's
output is byte-for-byte what it was. Besides its reference key, every
computed node therefore gets a *content-resolved key*: the digest of its
recipe without the links (task identity, literals, anything else the
recipe holds) plus, per input link, the content digest of the parent output
it reads. The worker computes it from the digests that travel with the
upstream outputs, so no driver round trip is needed per level.

- After computing a node, the worker stores an alias document
  ``resolved.<ab>/<content key>`` -> {reference key, output digests}.
- A worker about to compute a node whose reference key missed first looks
  the content key up. If the alias exists and the objects under its
  reference key still have the recorded digests, it returns those objects
  (stored again under the node's own reference key, so the next run is a
  plain cache hit) without calling the function: the node is *reused*.

Anything unreadable, or a digest that no longer matches (the objects were
overwritten by a refresh or by a volatile descendant), is a miss.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from runner.task import Task

log = logging.getLogger("digestflow")

ALIASES = "resolved"
_TAG = "digestflow.resolved/1"  # of the recipe digest
_RESOLVED = b"digestflow.resolved\x00\x02"  # of content keys (2: framed by hand)


def alias_kind(rkey: str) -> str:
    """The document kind of an alias: fanned out by the content key's first byte
    (``docs/resolved.ab/<content key>.json``), so writers do not share one directory."""
    return f"{ALIASES}.{rkey[:2]}"


def recipe_digest(recipe: Mapping[str, Any]) -> str:
    """Digest of a recipe dict (``keys.Recipe.to_dict()``) without its links and key, and
    without what is there only to be shown: the code closure's parts (the identity
    already covers them; a process that took the identity from a cache has no parts)
    and the literals' previews (their digests cover them)."""
    from keys import digest

    rest = {k: v for k, v in recipe.items() if k not in ("links", "key", "code")}
    rest["literals"] = [{"name": e["name"], "digest": e["digest"]}
                        for e in recipe.get("literals", ())]
    return digest((_TAG, _plain(rest))).hex()


def resolved_key(recipe: str, inputs: Mapping[str, str]) -> str:
    """The content-resolved key: recipe digest plus input name -> parent output digest.

    Every part is a string, so the preimage is framed by hand (a length before
    each part) and hashed at once: the canonical encoder took ~40 us per node."""
    import blake3

    h = blake3.blake3(_RESOLVED)
    h.update(_framed(recipe))
    for name, digest in sorted(inputs.items()):
        h.update(_framed(name))
        h.update(_framed(digest))
    return h.hexdigest()


def _framed(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(4, "big") + data


def find_reusable(store: Any, rkey: str, task: Task) -> tuple[str, list[Any], list[Any]] | None:
    """(source key, values, manifests) stored for content key ``rkey``, or None: a miss."""
    from storage import AS_STORED, StorageError

    try:
        alias = store.get_doc(alias_kind(rkey), rkey)
        source, digests = str(alias["key"]), list(alias["digests"])
        if len(digests) != task.num_returns:
            return None
        values, manifests = [], []
        for socket, want in enumerate(digests):
            value, manifest = store.load(source, socket, device=AS_STORED)
            if manifest.content_digest != want:
                return None
            values.append(value)
            manifests.append(manifest)
    except (StorageError, OSError, KeyError, TypeError, ValueError):
        return None  # missing, corrupt or malformed: compute instead
    return source, values, manifests


def record_alias(store: Any, rkey: str, key: str, manifests: Sequence[Mapping[str, Any]]) -> None:
    """Remember that the outputs stored under ``key`` have content key ``rkey``.

    An alias is a hint: one that cannot be written (read-only store) costs a
    later cutoff, never this node."""
    digests = [m["content_digest"] for m in sorted(manifests, key=lambda m: m["socket"])]
    try:
        store.put_doc(alias_kind(rkey), rkey, {"key": key, "digests": digests})
    except Exception as err:
        log.debug("digestflow: could not record the content alias of %s: %s", key, err)


def _plain(value: Any) -> Any:
    """JSON-shaped recipe data as encodable tuples (lists and dicts become sorted pairs)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _plain(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value
