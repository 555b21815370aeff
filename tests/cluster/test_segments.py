"""Index segments: a restarted index actor starts from what the last one saved, and a
torn, corrupt or stale segment never makes it answer a manifest the store would not."""

from __future__ import annotations

import textwrap
import threading
from pathlib import Path

import pytest

from cluster import index
from cluster.entries import decode_found
from cluster.index import IndexActor
from storage import open_store
from storage.segments import MAGIC, SEGMENT_DIR
from tests.processes import kill_when_stalled


def _filled(root: Path, n: int = 6) -> tuple[list[tuple[str, int]], dict]:
    store = open_store(root)
    refs = [(f"{i:02x}" * 32, i % 2) for i in range(n)]
    manifests = {ref: store.put(*ref, f"value {i}", task="t.make") for i, ref in enumerate(refs)}
    return refs, manifests


def _segments(root: Path) -> list[Path]:
    return sorted((root / SEGMENT_DIR).glob("*.seg"))


def _actor(root: Path) -> IndexActor:
    """An actor with its saved segments loaded (they load on a background thread)."""
    actor = IndexActor(str(root))
    assert actor.wait_loaded(60), "segments still loading after 60 s"
    return actor


def _answers(actor: IndexActor, refs: list[tuple[str, int]]) -> dict:
    return decode_found(refs, actor.lookup(refs))


def test_a_new_actor_starts_from_the_saved_segments(tmp_path: Path) -> None:
    root = tmp_path / "s"
    refs, manifests = _filled(root)
    first = _actor(root)
    first.record([manifests[r].to_dict() for r in refs[:4]])
    assert _answers(first, refs[4:]) == {r: manifests[r] for r in refs[4:]}  # read, learned
    first.save()
    assert len(_segments(root)) == 1
    second = _actor(root)
    assert len(second.entries) == len(refs), "known before any lookup: nothing re-read"
    assert _answers(second, refs) == manifests
    assert second.acquire([refs[0][0]], "me", 60) == {refs[0][0]: "<stored>"}


def test_segments_written_before_a_deletion_are_dropped(tmp_path: Path) -> None:
    root = tmp_path / "s"
    refs, manifests = _filled(root)
    first = _actor(root)
    first.record([m.to_dict() for m in manifests.values()])
    first.save()
    open_store(root).delete(refs[0][0])  # bumps the store's epoch
    second = _actor(root)
    assert len(second.entries) == 0 and _segments(root) == []
    assert _answers(second, refs) == {r: manifests[r] for r in refs[1:]}


def test_a_torn_or_corrupt_segment_is_a_rebuild_never_a_wrong_answer(tmp_path: Path) -> None:
    root = tmp_path / "s"
    refs, manifests = _filled(root)
    for damage in ("truncate", "flip", "empty"):
        first = _actor(root)
        first.record([m.to_dict() for m in manifests.values()])
        first.save()
        [seg] = _segments(root)
        raw = bytearray(seg.read_bytes())
        if damage == "truncate":
            raw = raw[: len(raw) // 2]
        elif damage == "flip":
            raw[len(raw) // 2] ^= 0x01
        else:
            raw = bytearray()
        seg.write_bytes(bytes(raw))
        second = _actor(root)
        assert len(second.entries) == 0 and _segments(root) == [], damage
        assert _answers(second, refs) == manifests, damage  # from the store itself


def test_the_newest_segment_wins_and_a_bad_one_hides_nothing(tmp_path: Path) -> None:
    """Segments load oldest first, so a key rewritten since (a refresh) is answered as
    the newer segment saved it; a corrupt segment or a stray file sorted before the good
    ones does not stop them from loading; the epoch tag is checked when it is not empty."""
    root = tmp_path / "s"
    refs, manifests = _filled(root)
    open_store(root).delete(refs[-1][0])  # a deletion: the store's epoch is no longer ""
    first = _actor(root)
    assert first.epoch
    first.record([manifests[r].to_dict() for r in refs[:2]])
    first.save()
    rewritten = open_store(root).put(*refs[0], "value 0, refreshed", task="t.make")
    first.record([rewritten.to_dict()])
    first.save()
    assert len(_segments(root)) == 2
    stray = root / SEGMENT_DIR / "0-notes.txt"
    stray.write_text("not a segment")
    bad = root / SEGMENT_DIR / "00000000000000000001-dead.seg"
    bad.write_bytes(MAGIC + b"\0" * 40)
    second = _actor(root)
    assert len(second.entries) == 2, "both good segments loaded"
    assert _answers(second, refs[:2]) == {refs[0]: rewritten, refs[1]: manifests[refs[1]]}
    assert stray.exists() and not bad.exists()


def test_a_segment_of_another_format_is_left_alone(tmp_path: Path) -> None:
    root = tmp_path / "s"
    refs, manifests = _filled(root)
    (root / SEGMENT_DIR).mkdir(parents=True)
    other = root / SEGMENT_DIR / "0-future.seg"
    other.write_bytes(MAGIC.replace(b"segment", b"segmenu") + b"\0" * 40)
    actor = _actor(root)
    assert len(actor.entries) == 0 and other.exists()
    assert _answers(actor, refs) == manifests


_CHILD = textwrap.dedent("""
    import sys, time
    from cluster.index import IndexActor
    from storage import open_store
    from storage.backends import LocalBackend

    root = sys.argv[1]
    original = LocalBackend.open_atomic

    class Stalling:
        def __init__(self, f):
            self.f = f
        def write(self, data):
            self.f.write(data[: len(data) // 2])
            self.f.flush()
            print("STALLED", flush=True)
            time.sleep(600)

    def open_atomic(self, path):
        import contextlib
        @contextlib.contextmanager
        def stalled():
            with original(self, path) as f:
                yield Stalling(f) if path.endswith(".seg") else f
        return stalled()

    LocalBackend.open_atomic = open_atomic
    store = open_store(root)
    actor = IndexActor(root)
    found = actor.lookup([(f"{i:02x}" * 32, i % 2) for i in range(6)])
    actor.record([{"key": "ee" * 32, "socket": 0, "codec": "plain", "nbytes": 1,
                   "content_digest": "0" * 64}])  # recorded, never stored: must not survive
    actor.save()
""")


def test_an_actor_killed_mid_write_of_a_segment_leaves_none(tmp_path: Path) -> None:
    root = tmp_path / "s"
    refs, manifests = _filled(root)
    kill_when_stalled(_CHILD, root)
    assert list((root / "tmp").rglob("*.seg.*.part")), "killed with half a segment written"
    assert _segments(root) == []
    actor = _actor(root)
    assert len(actor.entries) == 0
    assert _answers(actor, [*refs, ("ee" * 32, 0)]) == manifests


def _held_load(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Make the next actors' segment loads wait for the returned event, as a load of
    millions of rows keeps a restarted actor busy for minutes."""
    go = threading.Event()
    real = index.read_segments

    def held(backend, epoch):
        assert go.wait(60)
        yield from real(backend, epoch)

    monkeypatch.setattr(index, "read_segments", held)
    return go


def test_a_restarted_actor_answers_while_its_segments_load_and_what_it_learns_wins(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Lookups do not wait for the load: a miss is read from the store. A key the actor
    learns meanwhile (here rewritten since the segment was saved) keeps the newer
    manifest, and a key it forgets meanwhile is not brought back by the load."""
    root = tmp_path / "s"
    refs, manifests = _filled(root)
    first = _actor(root)
    first.record([m.to_dict() for m in manifests.values()])
    first.save()
    rewritten = open_store(root).put(*refs[0], "value 0, refreshed", task="t.make")
    go = _held_load(monkeypatch)
    second = IndexActor(str(root))
    assert not second.wait_loaded(0.05) and second.stats()["segments"] == "loading"
    assert _answers(second, refs[:1]) == {refs[0]: rewritten}  # from the store, at once
    second.forget([refs[1]])
    go.set()
    assert second.wait_loaded(60) and second.stats()["segments"] == "loaded"
    assert _answers(second, refs[:1]) == {refs[0]: rewritten}, "an older row won"
    assert not second.entries.has_key(refs[1][0]), "a forgotten key came back"
    loaded = second.entries.get_many(refs[2:])
    assert all(raw is not None for raw in loaded), "the rest came from the segment"


def test_a_deletion_while_segments_load_drops_the_load(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "s"
    refs, manifests = _filled(root)
    first = _actor(root)
    first.record([m.to_dict() for m in manifests.values()])
    first.save()
    go = _held_load(monkeypatch)
    second = IndexActor(str(root))
    open_store(root).delete(refs[-1][0])  # a new epoch: the saved rows may name it
    assert _answers(second, refs[-1:]) == {}  # the actor sees the new epoch
    go.set()
    assert second.wait_loaded(60)
    assert len(second.entries) == 0, "rows of the old epoch were loaded"
    assert _answers(second, refs) == {r: m for r, m in manifests.items() if r != refs[-1]}
