"""Planning rounds inside one run: waiting on another driver's lease, then re-planning."""

from __future__ import annotations

import pytest

from runner import InlineExecutor, RunError, run, sign
from runner.index import StoreIndex
from tests.runner.tasks import boom, combine, source


class HeldOnce(StoreIndex):
    """Pretends another driver holds ``key`` for the first acquire, then lets go."""

    def __init__(self, store, key: str) -> None:
        super().__init__(store)
        self.key, self.denied = key, False

    async def acquire(self, keys, owner, ttl):
        out = dict.fromkeys(keys, owner)
        if self.key in out and not self.denied:
            out[self.key], self.denied = "another-driver", True
        return out


class HeldOnceExecutor(InlineExecutor):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    async def open(self, store):
        await super().open(store)
        return HeldOnce(store, self.key)


def test_a_failed_node_does_not_run_again_in_a_later_round(store_uri, runlog):
    def graph():
        return [boom.bind("bad", source.bind("ok", 1)), combine.bind("held", source.bind("h", 2))]

    held_key = sign(graph())["combine-1"].hex()
    with pytest.raises(RunError) as info:
        run(graph(), store=store_uri, executor=HeldOnceExecutor(held_key))
    result = info.value.result
    assert runlog.take() == ["bad", "h", "held", "ok"], "each node ran once over two rounds"
    assert result.status("boom-1") == "failed"
    assert result.status("combine-1") == "executed"
    assert result.values == [None, 2]
