"""Lease tables without Ray: the process table, the chain, the index after a restart."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from cluster.index import RESTARTING, IndexActor
from runner.index import STORED
from runner.lease_tables import (
    Chain,
    LockFileTable,
    ProcessTable,
    describe_holder,
    lease_tables,
    owner_id,
    process_table,
)
from storage import open_store

K1, K2 = "1" * 64, "2" * 64


def test_a_waiter_in_another_thread_wakes_when_the_holder_records() -> None:
    table = ProcessTable()
    asyncio.run(table.acquire([K1], "run-a", 60))
    woke: list[float] = []

    def waiter() -> None:
        async def go() -> None:
            assert (await table.acquire([K1], "run-b", 60)) == {K1: "run-a"}
            start = time.monotonic()
            await table.changed([K1], 30)  # a long poll, cut short by the release
            woke.append(time.monotonic() - start)
            assert (await table.acquire([K1], "run-b", 60)) == {K1: STORED}
            # a refresh leases recorded keys again
            assert (await table.acquire([K1], "run-b", 60, reuse=False)) == {K1: "run-b"}

        asyncio.run(go())

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.3)
    asyncio.run(table.release([K1], "run-a", recorded=True))
    thread.join(10)
    assert woke and woke[0] < 5


def test_an_unrenewed_process_lease_expires_and_others_cannot_release_it() -> None:
    table = ProcessTable()

    async def go() -> None:
        assert (await table.acquire([K1], "a", 0.2)) == {K1: "a"}
        await table.release([K1], "b")
        assert (await table.acquire([K1], "b", 60)) == {K1: "a"}
        await asyncio.sleep(0.3)
        assert (await table.acquire([K1], "b", 60)) == {K1: "b"}

    asyncio.run(go())


def test_one_table_per_store_root_for_every_run_of_the_process(tmp_path: Path) -> None:
    a = open_store(tmp_path / "s")
    b = open_store(f"file://{tmp_path / 's'}")
    assert process_table(a) is process_table(b)
    assert process_table(a) is not process_table(open_store(tmp_path / "other"))


def test_a_key_refused_further_down_is_given_back_above(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    local, files = ProcessTable(), LockFileTable(store)
    chain = Chain([local, files], local=local)

    async def go() -> None:
        await files.acquire([K1], "other-driver", 60)
        got = await chain.acquire([K1, K2], "me", 60)
        assert got == {K1: "other-driver", K2: "me"}
        assert local.holders() == {K2: "me"}  # K1 is not held here for nothing
        await chain.release([K2], "me")
        assert local.holders() == {} and files.files.holder(K2) is None

    asyncio.run(go())


def test_a_lock_granted_for_an_already_stored_key_answers_stored(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    store.put(K1, 0, 42)
    files = LockFileTable(store)
    assert asyncio.run(files.acquire([K1], "me", 60)) == {K1: STORED}
    assert files.files.holder(K1) is None
    assert asyncio.run(files.acquire([K1], "me", 60, reuse=False)) == {K1: "me"}


def test_the_chain_for_a_local_store_without_a_cluster_uses_lock_files(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s")
    chain = lease_tables(store, index=None, shared_index=False)
    assert [type(t).__name__ for t in chain.tables] == ["ProcessTable", "LockFileTable"]
    assert chain.local is process_table(store)


def test_holders_are_described_as_a_user_would_say_it() -> None:
    assert describe_holder(owner_id("r1")) == "run r1 in this process"
    assert describe_holder("r2@elsewhere:12") == "driver elsewhere:12 (run r2)"


def test_a_restarted_index_grants_renewals_but_no_new_lease_for_half_a_ttl(tmp_path: Path) -> None:
    actor = IndexActor(str(tmp_path / "s"), reborn=True)  # as Ray restarts it: no leases
    assert actor.acquire([K1], "newcomer", 0.6) == {K1: RESTARTING}
    assert actor.acquire([K1], "holder", 0.6, renew=True) == {K1: "holder"}
    assert actor.acquire([K1], "newcomer", 0.6) == {K1: "holder"}
    time.sleep(0.35)
    assert actor.acquire([K2], "newcomer", 0.6) == {K2: "newcomer"}  # grace over


def test_a_fresh_index_grants_at_once(tmp_path: Path) -> None:
    actor = IndexActor(str(tmp_path / "s"))
    assert actor.acquire([K1], "first", 60) == {K1: "first"}
