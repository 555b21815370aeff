"""The CLI shows what a run computed: values on a first and a fully cached run, in
``--json``, and from the store with ``show KEY --value``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from runner.cli import main

PIPELINE = '''
import numpy as np
import pyarrow as pa
from runner import task

@task
def total(xs):
    return sum(xs)

@task
def greet(name):
    return "hello " + name

@task
def table(n):
    return pa.table({"city": ["Oslo", "Lima", "Pune"][:n], "temp": [3.5, 19.0, 31.25][:n]})

@task
def ramp(n):
    return np.arange(n, dtype=np.float32).reshape(2, n // 2)

@task(num_returns=2)
def halves(n):
    return n // 2, n - n // 2

TARGETS = {"total": total.bind([1, 2, 39]), "greeting": greet.bind("world"),
           "weather": table.bind(3), "ramp": ramp.bind(8), "halves": halves.bind(7)[1]}
'''


@pytest.fixture
def pipeline(tmp_path: Path) -> str:
    path = tmp_path / "values_pipeline.py"
    path.write_text(PIPELINE)
    return str(path)


def _run(capsys, *argv: str) -> str:
    capsys.readouterr()
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def _check_text(out: str) -> None:
    assert "total (total-1) = 42" in out
    assert "greeting (greet-1) = 'hello world'" in out
    assert "halves (halves-1)[1] = 4" in out
    assert "ramp (ramp-1) = array shape (2, 4) float32; min 0, mean 3.5, max 7" in out
    weather = out[out.index("weather (table-1) ="):].splitlines()
    assert weather[1].strip() == "Table: 3 rows x 2 columns"
    assert [ln.strip() for ln in weather[2:4]] == ["city: string", "temp: double"]
    assert weather[5].split() == ["city", "temp"]
    assert weather[6].split() == ["Oslo", "3.5"] and weather[8].split() == ["Pune", "31.25"]


def test_run_prints_values_first_and_cached(capsys, pipeline: str, store_uri: str) -> None:
    args = ("run", pipeline, "--executor", "inline", "--store", store_uri, "--no-progress")
    first = _run(capsys, *args)
    assert "5 nodes: 5 executed" in first
    _check_text(first)
    again = _run(capsys, *args)
    assert "0 executed, 5 cached" in again
    _check_text(again)


def test_run_json_has_the_json_able_values(capsys, pipeline: str, store_uri: str) -> None:
    out = _run(capsys, "run", pipeline, "--executor", "inline", "--store", store_uri, "--json")
    values = {v["target"]: v for v in json.loads(out)["values"]}
    assert values["total (total-1)"]["value"] == 42
    assert values["greeting (greet-1)"]["value"] == "hello world"
    assert values["halves (halves-1)[1]"]["value"] == 4
    assert "value" not in values["ramp (ramp-1)"]
    assert values["ramp (ramp-1)"]["summary"].startswith("array shape (2, 4) float32")
    assert values["weather (table-1)"]["summary"].startswith("Table: 3 rows x 2 columns")


def test_show_value_prints_a_stored_value(capsys, pipeline: str, store_uri: str) -> None:
    out = _run(capsys, "run", pipeline, "--executor", "inline", "--store", store_uri, "--json")
    key = next(n["key"] for n in json.loads(out)["nodes"] if n["id"] == "table-1")
    shown = _run(capsys, "show", key[:12], "--store", store_uri, "--value")
    assert "value: Table: 3 rows x 2 columns" in shown
    assert "Lima" in shown and "19" in shown
    plain = _run(capsys, "show", key[:12], "--store", store_uri)
    assert "Lima" not in plain and "--value" in plain
    key = next(n["key"] for n in json.loads(out)["nodes"] if n["id"] == "halves-1")
    data = json.loads(_run(capsys, "show", key, "--store", store_uri, "--value", "--json"))
    assert data["values"] == [{"socket": 0, "value": 3}, {"socket": 1, "value": 4}]
