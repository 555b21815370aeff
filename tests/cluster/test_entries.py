"""The index actor's compact table and lookups, without Ray (``cluster.entries``)."""

from __future__ import annotations

import random
import tracemalloc
from pathlib import Path

from cluster.entries import ManifestTable, decode, decode_found, encode
from cluster.index import IndexActor
from storage import Manifest, open_store

KEY = "ab" * 32


def _manifest(key: str, socket: int = 0, **extra: object) -> Manifest:
    return Manifest(key=key, socket=socket, codec="numpy", nbytes=80128,
                    content_digest="cd" * 32, created=1_700_000_000.25, task="pkg.make",
                    summary={"dtype": "float64", "shape": [10000]}, **extra)  # type: ignore[arg-type]


def test_an_encoded_manifest_decodes_to_the_same_manifest() -> None:
    for m in (_manifest(KEY), _manifest(KEY, 3, inline="eyJ2IjoxfQ=="),
              Manifest(key=KEY, socket=0, codec="plain", nbytes=1, content_digest="0" * 64)):
        assert decode(m.ref, encode(m)) == m


def test_the_table_answers_each_socket_it_was_given_and_none_other() -> None:
    table = ManifestTable()
    table.put(KEY, 0, b"zero")
    table.put(KEY, 2, b"two")
    other = "cd" * 32
    table.put(other, 1, b"one")
    assert table.get_many([(KEY, 0), (KEY, 1), (KEY, 2), (other, 0), (other, 1), ("ef" * 32, 0)]) \
        == [b"zero", None, b"two", None, b"one", None]
    assert len(table) == 2 and table.has_key(other)
    table.drop_key(KEY)  # every socket goes: the key is no longer recorded
    assert table.get_many([(KEY, 0), (KEY, 2)]) == [None, None] and not table.has_key(KEY)


def test_a_key_with_only_socket_0_has_no_other_socket() -> None:
    """Socket 0 alone is kept as a bare value: asking another socket of that key must
    still be a miss, never socket 0's manifest."""
    table = ManifestTable()
    table.put(KEY, 0, b"zero")
    assert table.get_many([(KEY, 0), (KEY, 1)]) == [b"zero", None]
    table.put(KEY, 0, b"zero again")  # a rewrite (refresh) replaces it
    assert table.get_many([(KEY, 0), (KEY, 1)]) == [b"zero again", None]
    other = "cd" * 32
    for socket, raw in ((2, b"two"), (0, b"zero"), (1, b"one"), (2, b"two again")):
        table.put(other, socket, raw)  # socket 0 added to, and others rewritten in, a row
    assert table.get_many([(other, s) for s in range(4)]) == [b"zero", b"one", b"two again",
                                                              None]
    table.drop_key("ef" * 32)  # never recorded: nothing to drop, no error
    assert len(table) == 2


def test_a_key_costs_a_few_hundred_bytes_not_a_kilobyte() -> None:
    rng, n = random.Random(0), 20_000
    rows = [encode(_manifest(rng.randbytes(32).hex())) for _ in range(n)]
    keys = [rng.randbytes(32).hex() for _ in range(n)]
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        table = ManifestTable()
        for key, raw in zip(keys, rows, strict=True):
            table.put(key, 0, bytes(bytearray(raw)))  # a copy, as from Ray
        per_key = (tracemalloc.get_traced_memory()[0] - before) / n
    finally:
        tracemalloc.stop()
    assert per_key < 400, per_key


def test_the_actor_answers_recorded_and_stored_manifests_and_forgets_deletions(
        tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    stored = store.put(KEY, 0, 12345, task="pkg.add")
    actor = IndexActor(str(tmp_path / "s"))
    recorded = _manifest("cd" * 32, 1)
    actor.record([recorded.to_dict()])
    asked = [(KEY, 0), ("cd" * 32, 1), ("cd" * 32, 0)]
    assert decode_found(asked, actor.lookup(asked)) == {(KEY, 0): stored,
                                                        ("cd" * 32, 1): recorded}
    store.delete(KEY)
    assert actor.lookup([(KEY, 0)]) == [None]  # deleted: a miss, never a stale hit
