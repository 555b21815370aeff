"""The run core: a ``Run`` that owns one run, and its ledger of node states."""

from __future__ import annotations

from runner.execution.ledger import Ledger, NodeRecord, NodeStatus, new_ledger
from runner.execution.run import MAX_ROUNDS, Run, Vanishing

__all__ = ["MAX_ROUNDS", "Ledger", "NodeRecord", "NodeStatus", "Run", "Vanishing", "new_ledger"]
