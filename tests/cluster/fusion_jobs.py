"""Jobs, tasks and stand-ins shared by the fusion tests (no Ray)."""

from __future__ import annotations

from runner.contracts import Cached, NodeJob, Upstream
from runner.task import task


@task
def tiny(*xs: int) -> int:
    return sum(xs)


@task
def slow(*xs: int) -> int:
    return sum(xs)


@task(num_gpus=1)
def on_gpu(*xs: int) -> int:
    return sum(xs)


TIMES = {"tiny": 0.0001, "slow": 0.5, "on_gpu": 0.0001}


def make_job(nid: str, t, parents=(), lease=None) -> NodeJob:
    inputs = {f"x{i}": Upstream(p, 0) for i, p in enumerate(parents)}
    inputs["c"] = Cached("ab" * 32, 0, "d")  # a stored input never ties nodes together
    return NodeJob(node_id=nid, task=t, key=nid, inputs=inputs, lease=lease)


class Docs:
    """The store's document calls for the timings, recording what was saved."""

    def __init__(self, doc=None, fail=False):
        self.doc, self.fail, self.saved = doc, fail, None

    def get_doc(self, kind, name):
        assert (kind, name) == ("stats", "tasks"), "the timings live in docs/stats/tasks.json"
        if self.doc is None:
            raise FileNotFoundError(name)
        return self.doc

    def put_doc(self, kind, name, obj):
        assert (kind, name) == ("stats", "tasks"), "the timings live in docs/stats/tasks.json"
        if self.fail:
            raise PermissionError("read-only store")
        self.saved = (kind, name, obj)


class Done:
    """An outcome future that has (or has not yet) resolved."""

    def __init__(self, outcome=None) -> None:
        self.outcome = outcome

    def done(self):
        return self.outcome is not None

    def cancelled(self):
        return False

    def exception(self):
        return None

    def result(self):
        return self.outcome
