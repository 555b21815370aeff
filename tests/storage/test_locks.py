"""Lock-file leases between real processes: one winner per key, expiry, takeover.

Contenders are separate Python processes started together (they wait for a
start file), so creation and takeover races are real ones; a holder killed
with SIGKILL leaves its lock behind exactly as a crashed driver would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.locks import UNREADABLE, LockFiles
from storage.refs import lock_path

ROOT = Path(__file__).resolve().parents[2]
KEYS = [f"{i:064x}" for i in range(40)]

CONTENDER = """
import json, os, sys, time
sys.path.insert(0, {root!r})
from storage.locks import LockFiles
store, owner, go, ttl, hold = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), sys.argv[5]
keys = json.loads(sys.stdin.read())
open(go + ".ready-" + owner, "w").close()
while not os.path.exists(go):
    time.sleep(0.001)
got = LockFiles(store).acquire(keys, owner, ttl)
print(json.dumps(got), flush=True)
if hold == "forever":
    time.sleep(600)
"""


def _contender(store: Path, owner: str, go: Path, keys: list[str], ttl: float = 30,
               hold: str = "no") -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", CONTENDER.format(root=str(ROOT)), str(store),
                             owner, str(go), str(ttl), hold], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None
    proc.stdin.write(json.dumps(keys))
    proc.stdin.close()
    return proc


def _start(go: Path, owners: list[str]) -> None:
    """Open the gate once every contender is spinning on it, so they truly race."""
    deadline = time.monotonic() + 60
    while not all(Path(f"{go}.ready-{o}").exists() for o in owners):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    go.touch()


def _answer(proc: subprocess.Popen[str]) -> dict[str, str]:
    assert proc.stdout is not None
    return json.loads(proc.stdout.readline())


def test_each_key_goes_to_exactly_one_of_racing_processes(tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = {f"p{i}": _contender(tmp_path, f"p{i}", go, KEYS[::1 if i % 2 else -1])
             for i in range(4)}
    _start(go, list(procs))
    answers = {who: _answer(p) for who, p in procs.items()}
    for p in procs.values():
        p.wait(30)
    for key in KEYS:
        holders = {answers[who][key] for who in procs}
        winners = [who for who in procs if answers[who][key] == who]
        assert len(winners) == 1, (key, holders)
        assert holders == {winners[0]}  # the losers name the winner
        assert LockFiles(str(tmp_path)).holder(key).owner == winners[0]


def test_a_sigkilled_holder_blocks_until_expiry_then_one_racer_takes_over(tmp_path: Path) -> None:
    go = tmp_path / "go"
    go.touch()
    holder = _contender(tmp_path, "crashed", go, KEYS[:5], ttl=2.0, hold="forever")
    assert set(_answer(holder).values()) == {"crashed"}
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    locks = LockFiles(str(tmp_path))
    assert set(locks.acquire(KEYS[:5], "early", 30).values()) == {"crashed"}  # still held
    info = locks.holder(KEYS[0])
    assert info is not None and info.pid == holder.pid and info.host
    time.sleep(max(0.0, info.mtime + info.ttl - time.time()) + 0.05)
    go2 = tmp_path / "go2"
    racers = {f"r{i}": _contender(tmp_path, f"r{i}", go2, KEYS[:5]) for i in range(3)}
    _start(go2, list(racers))
    answers = {who: _answer(p) for who, p in racers.items()}
    for key in KEYS[:5]:
        winners = [who for who in racers if answers[who][key] == who]
        assert len(winners) == 1, answers
        assert {answers[who][key] for who in racers} == {winners[0]}


def test_renewal_keeps_a_lock_past_its_ttl_and_release_frees_it(tmp_path: Path) -> None:
    locks = LockFiles(str(tmp_path))
    assert locks.acquire(KEYS[:2], "me", 0.6) == dict.fromkeys(KEYS[:2], "me")
    for _ in range(4):  # 1.2 s in all: alive only through renewal
        time.sleep(0.3)
        assert locks.acquire(KEYS[:2], "me", 0.6) == dict.fromkeys(KEYS[:2], "me")
    assert locks.acquire(KEYS[:2], "other", 30) == dict.fromkeys(KEYS[:2], "me")
    locks.release(KEYS[:2], "other")  # not its lock: nothing happens
    assert locks.holder(KEYS[0]).owner == "me"
    locks.release(KEYS[:2], "me")
    assert locks.holder(KEYS[0]) is None
    assert locks.acquire(KEYS[:2], "other", 30) == dict.fromkeys(KEYS[:2], "other")
    assert sorted(os.listdir(tmp_path / "locks")) == sorted(f"{k}.lock" for k in KEYS[:2])


def test_a_garbage_lock_blocks_only_until_its_mtime_plus_the_ttl(tmp_path: Path) -> None:
    path = tmp_path / lock_path(KEYS[0])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"\x00not json")
    locks = LockFiles(str(tmp_path))
    assert locks.acquire([KEYS[0]], "me", 30) == {KEYS[0]: UNREADABLE}
    old = time.time() - 31
    os.utime(path, (old, old))
    assert locks.acquire([KEYS[0]], "me", 30) == {KEYS[0]: "me"}


def test_a_bad_key_never_reaches_the_filesystem(tmp_path: Path) -> None:
    from storage.errors import StorageError

    with pytest.raises(StorageError, match="invalid key"):
        LockFiles(str(tmp_path)).acquire(["../../etc/passwd"], "me", 30)


def test_gc_removes_expired_locks_and_stray_private_names_and_nothing_else(tmp_path: Path) -> None:
    """A crashed driver's lock nobody asks for again, and the private names a process
    killed mid-acquire or mid-takeover leaves, go with gc; live locks and foreign files
    stay; a dry run only lists."""
    from storage import open_store

    store = open_store(tmp_path / "store")
    root = Path(store.backend.root)
    files = LockFiles(str(root))
    assert files.acquire([KEYS[0]], "crashed", 0.05) == {KEYS[0]: "crashed"}
    assert files.acquire([KEYS[1]], "alive", 600) == {KEYS[1]: "alive"}
    locks = root / "locks"
    stray_new = locks / f"{KEYS[2]}.lock.{'a1' * 6}.new"
    stray_old = locks / f"{KEYS[3]}.lock.{'b2' * 6}.old"
    fresh_new = locks / f"{KEYS[4]}.lock.{'c3' * 6}.new"
    foreign = locks / "README.txt"
    for path in (stray_new, stray_old, fresh_new, foreign):
        path.write_text("{}")
    hour_ago = time.time() - 3600
    for path in (stray_new, stray_old):
        os.utime(path, (hour_ago, hour_ago))
    time.sleep(0.1)  # the crashed holder's lock expires

    expected = sorted(f"locks/{p.name}" for p in
                      (root / lock_path(KEYS[0]), stray_new, stray_old))
    dry = store.gc(max_bytes=10**9, dry_run=True)
    assert sorted(t for t in dry.temporaries if t.startswith("locks/")) == expected
    assert (root / lock_path(KEYS[0])).exists()
    report = store.gc(max_bytes=10**9)
    assert sorted(t for t in report.temporaries if t.startswith("locks/")) == expected
    assert sorted(p.name for p in locks.iterdir()) == sorted(
        [Path(lock_path(KEYS[1])).name, fresh_new.name, foreign.name])
    assert files.holder(KEYS[1]).owner == "alive"
    assert files.acquire([KEYS[0]], "next", 600) == {KEYS[0]: "next"}  # free again
