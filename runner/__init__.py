"""runner: the user API (task, bind, run), graph model, scheduler and CLI."""

from __future__ import annotations

from runner.errors import ExecutionError, RunError, ValidationError
from runner.events import NodeEvent
from runner.executor import Executor, InlineExecutor
from runner.explain import Explanation, explain
from runner.graph import Graph, Link
from runner.node import Node, Output
from runner.result import NodeReport, Result
from runner.run import run, run_async, sign
from runner.signatures import document_api
from runner.task import Task, task

document_api()  # help(run) and help(task) show the real options

__all__ = [
    "ExecutionError",
    "Executor",
    "Explanation",
    "Graph",
    "InlineExecutor",
    "Link",
    "Node",
    "NodeEvent",
    "NodeReport",
    "Output",
    "Result",
    "RunError",
    "Task",
    "ValidationError",
    "explain",
    "run",
    "run_async",
    "sign",
    "task",
]


def __dir__() -> list[str]:
    """Only the public API: submodules imported along the way are not part of it."""
    return sorted(__all__)
