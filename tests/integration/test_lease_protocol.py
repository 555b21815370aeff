"""The lease protocol without Ray: ``runner.lease`` over the index actor's own class.

``IndexActor`` is plain Python; wrapped in an async adapter it is exactly what
``RayIndex`` talks to, so these tests pin the protocol (who runs what, who
waits, when a lease passes on) deterministically and in milliseconds.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from cluster.entries import decode_found
from cluster.index import IndexActor
from runner.index import STORED, StoreIndex
from runner.lease import Leases, hold_back
from runner.plan import make_plan, needed_refs
from runner.prepare import sign_targets
from tests.runner.tasks import combine, source


class LocalIndex:
    """RayIndex's interface over an in-process IndexActor."""

    def __init__(self, actor: IndexActor) -> None:
        self.actor = actor
        self.lookups = 0
        self.forgotten: list[Any] = []

    async def lookup(self, refs: Any) -> dict[Any, Any]:
        self.lookups += 1
        return decode_found(list(refs), self.actor.lookup(list(refs)))

    async def record(self, manifests: Any) -> None:
        self.actor.record(list(manifests))

    async def forget(self, refs: Any) -> None:
        self.forgotten.extend(refs)
        self.actor.forget(list(refs))

    async def acquire(self, keys: Any, owner: str, ttl: float, *, renew: bool = False,
                      reuse: bool = True) -> dict[str, str]:
        return self.actor.acquire(list(keys), owner, ttl, renew, reuse)

    async def release(self, keys: Any, owner: str) -> None:
        self.actor.release(list(keys), owner)


def _graph() -> Any:
    """a -> ab <- b ; c alone; target: [ab, c]."""
    a, b, c = source.bind("a", 1), source.bind("b", 2), source.bind("c", 3)
    return [combine.bind("ab", a, b), c]


def _plan(targets: Any, index: LocalIndex) -> tuple[Any, Any]:
    s = sign_targets(targets)
    found = asyncio.run(index.lookup(needed_refs(s.graph, s.order, s.hexkeys)))
    targets_ = [t[0] for t in s.targets]
    return s.graph, make_plan(s.graph, s.order, s.hexkeys, targets_, found, cache="use")


def _keys(plan: Any) -> list[str]:
    return [plan.keys[n] for n in plan.run]


def _label(graph: Any, nid: str) -> str:
    return graph[nid].literals["label"]


@pytest.fixture
def index(tmp_path: Path) -> LocalIndex:
    return LocalIndex(IndexActor(str(tmp_path / "store")))


def test_store_index_grants_everything(tmp_path: Path) -> None:
    from storage import open_store

    idx = StoreIndex(open_store(tmp_path / "s"))
    graph, plan = _plan(_graph(), LocalIndex(IndexActor(str(tmp_path / "s"))))
    now, waiting = hold_back(graph, plan, asyncio.run(Leases(idx).claim(_keys(plan))))
    assert now.run == plan.run and waiting == []


def test_a_key_held_elsewhere_holds_back_it_and_its_descendants_only(index: LocalIndex) -> None:
    graph, plan = _plan(_graph(), index)
    a = next(n for n in plan.run if _label(graph, n) == "a")
    index.actor.acquire([plan.keys[a]], "other-driver", 60)

    async def go() -> tuple[Any, Any, Leases]:
        leases = Leases(index, owner="me")
        now, waiting = hold_back(graph, plan, await leases.claim(_keys(plan)))
        await leases.close()
        return now, waiting, leases

    now, waiting, leases = asyncio.run(go())
    assert sorted(_label(graph, n) for n in now.run) == ["b", "c"]  # ab waits for a
    assert waiting == [(plan.keys[a], 0)]
    assert index.actor.leases[plan.keys[a]][0] == "other-driver"
    assert not leases.held and len(index.actor.leases) == 1  # ours were given back


def test_waiting_ends_when_the_holder_records(index: LocalIndex) -> None:
    graph, plan = _plan(_graph(), index)
    key = plan.keys[plan.run[0]]
    index.actor.acquire([key], "other-driver", 60)
    manifest = {"key": key, "socket": 0, "codec": "x", "nbytes": 1, "content_digest": "",
                "summary": {}, "created": 0.0, "task": None}

    async def go() -> None:
        leases = Leases(index, owner="me")
        waiter = asyncio.ensure_future(leases.wait([(key, 0)]))
        await asyncio.sleep(0.1)
        assert not waiter.done()
        await index.record([manifest])  # the other driver finished the key
        await asyncio.wait_for(waiter, 5)
        # a late acquire of a recorded key is refused: read it, do not run it
        assert (await index.acquire([key], "third", 60)) == {key: STORED}

    asyncio.run(go())


def test_an_expired_lease_passes_to_the_waiter(index: LocalIndex) -> None:
    graph, plan = _plan(_graph(), index)
    key = plan.keys[plan.run[0]]
    index.actor.acquire([key], "crashed-driver", 0.2)  # never renewed

    async def go() -> Leases:
        leases = Leases(index, owner="me", ttl=30)
        await asyncio.wait_for(leases.wait([(key, 0)]), 5)
        return leases

    leases = asyncio.run(go())
    assert key in leases.held and index.actor.leases[key][0] == "me"


def test_leases_are_renewed_while_the_run_lives(index: LocalIndex) -> None:
    graph, plan = _plan(_graph(), index)

    async def go() -> None:
        leases = Leases(index, owner="me", ttl=0.3)
        await leases.claim(_keys(plan))
        await asyncio.sleep(0.8)  # > 2 TTLs: alive only through renewal
        holders = await index.acquire([plan.keys[n] for n in plan.run], "other", 60)
        assert set(holders.values()) == {"me"}
        await leases.close()
        assert not index.actor.leases

    asyncio.run(go())


def test_recorded_but_missing_socket_is_forgotten_not_waited_on(index: LocalIndex) -> None:
    graph, plan = _plan(_graph(), index)
    key = plan.keys[plan.run[0]]
    index.actor.record([{"key": key, "socket": 1, "codec": "plain", "nbytes": 1,  # socket 0
                         "content_digest": "0" * 64}])  # evicted after it was recorded

    async def go() -> None:
        await asyncio.wait_for(Leases(index, owner="me").wait([(key, 0)]), 5)

    asyncio.run(go())
    assert index.forgotten == [(key, 0)] and not index.actor.entries.has_key(key)
