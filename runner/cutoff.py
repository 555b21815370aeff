"""Early cutoff (X5): reuse a node's earlier outputs when its inputs' *content* recurs.

A node's reference key is built from its parents' keys, so when a parent
re-runs under a new key every descendant misses, even when the parent's
output is byte-for-byte what it was. Besides its reference key, every
computed node therefore gets a *content-resolved key*: the digest of its
recipe without the links (task identity, literals, anything else the
recipe holds) plus, per input link, the content digest of the parent output
it reads. The worker computes it from the digests that travel with the
upstream outputs, so no driver round trip is needed per level.

- When storing a computed node's outputs, the worker also publishes each
  output's manifest under the alias ``<content key>.<socket>``
  (``Store.put(..., alias=...)``: a hard link to the manifest it is writing,
  so the alias costs one directory entry, not a second file, and it names the
  reference key and digest of exactly the bytes computed for that content).
- A worker about to compute a node whose reference key missed first looks
  the content key up. If the aliases exist and the objects under their
  reference key still have the aliased digests, it returns those objects
  (stored again under the node's own reference key, so the next run is a
  plain cache hit) without calling the function: the node is *reused*.

Anything unreadable, or a digest that no longer matches (the objects were
overwritten by a refresh or by a volatile descendant), is a miss.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runner.task import Task

_TAG = "digestflow.resolved/1"  # of the recipe digest
_RESOLVED = b"digestflow.resolved\x00\x02"  # of content keys (2: framed by hand)


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


def alias_of(rkey: str, socket: int) -> str:
    """The alias under which output ``socket`` of a node computed for content key
    ``rkey`` is also published (``Store.put(..., alias=...)``)."""
    return f"{rkey}.{socket}"


def find_reusable(store: Any, rkey: str, task: Task) -> tuple[str, list[Any], list[Any]] | None:
    """(source key, values, manifests) stored for content key ``rkey``, or None: a miss.

    Each socket's alias is the manifest written for that content; the object under
    its key must still hold the same digest (a refresh or a volatile descendant may
    have rewritten it since)."""
    from storage import AS_STORED, StorageError

    source: str | None = None
    values, manifests = [], []
    try:
        for socket in range(task.num_returns):
            alias = store.aliased(alias_of(rkey, socket))
            if alias is None or alias.socket != socket or source not in (None, alias.key):
                return None
            source = alias.key
            value, manifest = store.load(source, socket, device=AS_STORED)
            if manifest.content_digest != alias.content_digest:
                return None
            values.append(value)
            manifests.append(manifest)
    except (StorageError, OSError, KeyError, TypeError, ValueError):
        return None  # missing, corrupt or malformed: compute instead
    return (source, values, manifests) if source is not None else None


def _plain(value: Any) -> Any:
    """JSON-shaped recipe data as encodable tuples (lists and dicts become sorted pairs)."""
    if isinstance(value, Mapping):
        return tuple(sorted((str(k), _plain(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_plain(v) for v in value)
    return value
