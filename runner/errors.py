"""Errors raised by the runner, one class per phase (see keys.errors for the base)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from keys.errors import DigestflowError

if TYPE_CHECKING:
    from runner.result import Result


class ValidationError(DigestflowError, ValueError):
    """The graph is malformed; nothing ran. The message names node, task and input."""


class ExecutionError(DigestflowError):
    """The executor could not run the graph (cluster unreachable, infeasible resources)."""


class RunError(DigestflowError):
    """One or more nodes failed; ``result`` is the partial Result of the run."""

    def __init__(self, message: str, result: Result) -> None:
        super().__init__(message)
        self.result = result


class DigestflowWarning(UserWarning):
    """Something works, but not as asked (e.g. a GPU task running on the CPU)."""
