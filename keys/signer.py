"""``Signer``: one per run; turns a graph into node keys, and keeps recipes.

``key(node) = blake3(NODE_DOMAIN, identity, literals..., links...)`` where
literals are sorted by name and enter inline when their encoding is at most
``inline_limit`` bytes, else as their digest; links are sorted by name and
enter as ``(name, "ANCESTOR", parent key, socket)``. Node ids never enter a
key. Work is O(nodes + edges) with no recursion.

State: ``_memo`` maps ``id(literal)`` to the literal (kept alive, so the id is
not reused while the signer lives) and its encoded/digested form, so each
literal object is encoded at most once; inline ints skip it (framing one
costs less than remembering it, and bind graphs hold one distinct int per node);
``_recipes`` maps each key to the tuples it was built from (``Recipe``
objects are built only on request).

``text``, ``literal``, ``NODE_DOMAIN``, ``ANCESTOR``, ``count`` and
``SOCKETS`` are the preimage's parts, for a caller that assembles
preimages itself (``runner.bound_keys`` signs a bind graph as it walks it).
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from blake3 import blake3

from keys import _format as F
from keys._unencodable import short_repr
from keys.encoder import encode_or_digest
from keys.errors import SigningError
from keys.files import File
from keys.identity import code_parts
from keys.key import Key
from keys.recipe import LinkEntry, LiteralEntry, Recipe

_INLINE = b"I"
_DIGESTED = b"H"
ANCESTOR = b"ANCESTOR"
NODE_DOMAIN = F.NODE_DOMAIN
_HEADER = F.HEADER
_SCALARS = {tp: fn for tp, fn in F.SCALARS.items() if tp is not bytes}
SOCKETS = tuple(i.to_bytes(4, "little") for i in range(1024))  # socket -> its 4 bytes
_COUNTS = tuple(F.length(i) for i in range(64))
_INLINE_PREFIX = tuple(_INLINE + F.length(i) for i in range(1024))
_INT_OVERHEAD = len(_HEADER) + 9  # header, tag, 8-byte length
# An int's framed literal, b"I" + length + HEADER + INT + nbytes + value, by nbytes:
# everything but the value's own bytes (the same bytes ``F.enc_int`` frames).
_INT_PREFIX = tuple(
    _INLINE_PREFIX[_INT_OVERHEAD + nb] + _HEADER + F.INT + F.length(nb)
    for nb in range(len(_INLINE_PREFIX) - _INT_OVERHEAD)
)
_Key = Key
_new_key = object.__new__
_set_digest = Key.digest.__set__  # type: ignore[attr-defined]  # slot descriptor: fast, bypasses the immutability guard


def count(n: int) -> bytes:
    """A count of literals or links, as the preimage frames it."""
    return _COUNTS[n] if n < 64 else F.length(n)


class SignableNode(Protocol):
    """What ``Signer.sign`` reads from a node (links: name -> (parent id, socket))."""

    id: str
    identity: str
    literals: Mapping[str, Any]
    links: Mapping[str, tuple[str, int]]


class Signer:
    """Signs nodes; memoises literal encodings by object identity."""

    def __init__(self, *, inline_limit: int = 64, recipes: bool = True) -> None:
        if not 0 <= inline_limit < len(_INLINE_PREFIX):
            raise ValueError(f"inline_limit must be in [0, {len(_INLINE_PREFIX)})")
        self.inline_limit = inline_limit
        self._int_bytes = inline_limit - _INT_OVERHEAD  # an int this long or shorter is inline
        self._memo: dict[int, tuple[Any, bytes]] = {}
        self._recipes: dict[Key, tuple[str, list[Any], list[Any], dict[str, Key] | None]] = {}
        self._strings: dict[str, bytes] = {}
        self.keep_recipes = recipes  # False: keys only (less to build, keep and free)

    def text(self, text: str) -> bytes:
        """An identity or input name, encoded as it enters a preimage (memoised)."""
        return self._strings.get(text) or self._string(text)

    def literal(self, name: str, value: Any, node_id: str | None, identity: str) -> bytes:
        """One literal as it enters a preimage: ``b"I" + length + encoding`` or
        ``b"H" + digest``; an error naming node, input and fix if it has no encoding."""
        if type(value) is int:
            nb = (value.bit_length() + 8) >> 3
            if nb <= self._int_bytes:
                return _INT_PREFIX[nb] + value.to_bytes(nb, "little", signed=True)
        entry = self._memo.get(id(value)) or self._encode_literal(name, value, node_id, identity)
        return entry[1]

    def sign_node(
        self,
        identity: str,
        literals: Mapping[str, Any],
        links: Mapping[str, tuple[Key, int]],
        node_id: str | None = None,
    ) -> Key:
        """The key of one node whose parents' keys are known."""
        for name, link in links.items():
            if not isinstance(link, tuple) or len(link) != 2 or not isinstance(link[0], Key):
                raise SigningError(
                    f"{_where(name, node_id, identity)}link must be (parent Key, socket), got {link!r}"
                )
        return self._sign(identity, literals, links, None, node_id)

    def sign(self, nodes: Iterable[SignableNode]) -> dict[str, Key]:
        """Keys of ``nodes`` (topological order: parents before children).

        The cyclic garbage collector is paused meanwhile: signing allocates
        millions of long-lived acyclic objects, and collections triggered by
        them would otherwise double the time on big graphs.
        """
        keys: dict[str, Key] = {}
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            sign = self._sign
            for node in nodes:
                node_id = node.id
                if node_id in keys:
                    raise SigningError(f"node {node_id!r} appears twice in the graph")
                keys[node_id] = sign(node.identity, node.literals, node.links, keys, node_id)
        finally:
            if was_enabled:
                gc.enable()
        return keys

    def literal_parts(self, key: Key) -> tuple[str, tuple[tuple[str, bytes], ...]]:
        """(identity, ((name, framed literal), ...)) of a key this signer produced: what its
        recipe holds besides the links, hashable and without building the recipe."""
        try:
            identity, lits, _links, _resolve = self._recipes[key]
        except KeyError:
            raise KeyError(f"{key!r} was not signed by this signer") from None
        return identity, tuple((name, self.literal(name, value, None, identity))
                               for name, value in lits)

    def recipe(self, key: Key) -> Recipe:
        """What went into ``key`` (a key this signer produced)."""
        try:
            identity, lits, links, resolve = self._recipes[key]
        except KeyError:
            kept = "" if self.keep_recipes else " (it was made with recipes=False)"
            raise KeyError(f"{key!r} was not signed by this signer{kept}") from None
        return Recipe(
            identity=identity,
            literals=tuple(
                _literal_entry(name, value, self.literal(name, value, None, identity))
                for name, value in lits
            ),
            links=tuple(
                LinkEntry(name, (ref if resolve is None else resolve[ref]).hex(), socket)
                for name, (ref, socket) in links
            ),
            key=key.hex(),
            code=code_parts(identity),
        )

    def _sign(
        self,
        identity: str,
        literals: Mapping[str, Any],
        links: Mapping[str, tuple[Any, int]],
        resolve: dict[str, Key] | None,
        node_id: str | None,
    ) -> Key:
        """Hash one node's preimage; link refs are Keys, or ids looked up in ``resolve``.

        Runs once per node: locals and precomputed frames on purpose.
        """
        strings, memo, int_bytes = self._strings, self._memo, self._int_bytes
        ident = strings.get(identity) or self._string(identity)
        parts = [NODE_DOMAIN, ident, count(len(literals))]
        add = parts.append
        lits = sorted(literals.items()) if len(literals) > 1 else list(literals.items())
        for name, value in lits:
            add(strings.get(name) or self._string(name))
            if type(value) is int and (nb := (value.bit_length() + 8) >> 3) <= int_bytes:
                add(_INT_PREFIX[nb] + value.to_bytes(nb, "little", signed=True))
            else:
                add((memo.get(id(value)) or self._encode_literal(name, value, node_id, identity))[1])
        link_items = sorted(links.items()) if len(links) > 1 else list(links.items())
        add(count(len(link_items)))
        for name, (ref, socket) in link_items:
            parent = ref if resolve is None else resolve.get(ref)
            if parent is None or name in literals:
                raise self._link_error(name, ref, parent, node_id, identity)
            add(strings.get(name) or self._string(name))
            add(ANCESTOR)
            add(parent.digest)
            add(SOCKETS[socket] if type(socket) is int and 0 <= socket < 1024
                else _socket(socket, name))
        key = _new_key(_Key)
        _set_digest(key, blake3(b"".join(parts)).digest())
        if self.keep_recipes:
            self._recipes[key] = (identity, lits, link_items, resolve)
        return key

    @staticmethod
    def _link_error(
        name: str, ref: Any, parent: Key | None, node_id: str | None, identity: str
    ) -> SigningError:
        where = _where(name, node_id, identity)
        if parent is None:
            return SigningError(
                f"{where}links to node {ref!r}, which was not signed before it: pass nodes "
                "in topological order, and link only to nodes of the graph"
            )
        return SigningError(f"{where}is both a literal and a link")

    def _encode_literal(
        self, name: str, value: Any, node_id: str | None, identity: str
    ) -> tuple[Any, bytes]:
        scalar = _SCALARS.get(type(value))
        data = _HEADER + scalar(value) if scalar is not None else None
        if data is not None and len(data) <= self.inline_limit:
            inline, payload = True, data  # fast path: most literals are small scalars
        else:
            prefix = _where(name, node_id, identity)
            inline, payload = encode_or_digest(value, self.inline_limit, name, prefix)
        framed = (_INLINE_PREFIX[len(payload)] if inline else _DIGESTED) + payload
        entry = (value, framed)  # framed = b"I" + length + encoding, or b"H" + digest
        self._memo[id(value)] = entry
        return entry

    def _string(self, text: str) -> bytes:
        data = self._strings.get(text)
        if data is None:
            if not isinstance(text, str):
                raise SigningError(f"identities and input names must be str, got {text!r}")
            data = self._strings[text] = F.enc_str(text)
        return data


def _socket(socket: int, name: str) -> bytes:
    if type(socket) is not int or not 0 <= socket < 1 << 32:
        raise SigningError(f"input {name!r}: socket must be an int in [0, 2**32), got {socket!r}")
    return socket.to_bytes(4, "little")


def _where(name: str, node_id: str | None, identity: str) -> str:
    node = f" of node {node_id!r}" if node_id is not None else ""
    return f"input {name!r}{node} ({identity}): "


def _literal_entry(name: str, value: Any, framed: bytes) -> LiteralEntry:
    if framed[:1] == _INLINE:
        payload = framed[9:]
        return LiteralEntry(
            name, blake3(F.VALUE_DOMAIN + payload).hexdigest(), short_repr(value, 60)
        )
    preview = repr(value) if isinstance(value, File) else None  # names the file in explain
    return LiteralEntry(name, framed[1:].hex(), preview)
