"""Fixtures for the observability tests: a pipeline file the CLI can load."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

PIPELINE = textwrap.dedent("""
    from tests.observability.pipeline import build

    TARGETS = build(factor={factor})
""")


@pytest.fixture
def pipeline_file(tmp_path: Path):
    """Writes ``pipe.py`` with the test pipeline at a given ``factor``; returns its path."""
    path = tmp_path / "pipe.py"

    def write(factor: int = 2) -> str:
        path.write_text(PIPELINE.format(factor=factor))
        return str(path)

    return write
