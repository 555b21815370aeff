"""Prometheus metrics via ``ray.util.metrics`` (filled in with observability work)."""

from __future__ import annotations

from typing import Any


def task_done(task: str, outcome: Any) -> None:
    return None


def task_failed(task: str) -> None:
    return None
