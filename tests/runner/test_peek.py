"""``runner.peek``: values described in a few lines, JSON only when plain and small."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from runner.peek import NOT_JSON, as_json, describe


@pytest.mark.parametrize("value, text", [
    (42, "42"), (2.5, "2.5"), ("hi", "'hi'"), (None, "None"), (True, "True"),
    (np.float32(1.5), "1.5 (float32)"),
    (np.arange(6, dtype=np.int16).reshape(2, 3), "array shape (2, 3) int16; min 0, mean 2.5, max 5"),
    (np.zeros((0, 3)), "array shape (0, 3) float64; empty"),
    (np.array(["a", "b"]), "array shape (2,) <U1"),
    ({"a": [1, 2]}, "{'a': [1, 2]}"),
])
def test_describe(value, text):
    assert describe(value) == text


def test_describe_bounds_large_values():
    assert describe("x" * 5000).startswith("str of 5000 chars: 'xxx")
    assert len(describe("x" * 5000)) < 2100
    big = list(range(100_000))
    assert describe(big) == "list of 100000: [0, 1, 2, 3, 4, 5, 6, 7, ...]"


def test_describe_table_shows_schema_and_first_rows():
    table = pa.table({"n": list(range(100)), "s": [f"row{i}" for i in range(100)]})
    lines = describe(table).splitlines()
    assert lines[:3] == ["Table: 100 rows x 2 columns", "  n: int64", "  s: string"]
    assert lines[3] == "first 5 row(s):"
    assert [ln.split() for ln in lines[4:]] == [["n", "s"]] + [[str(i), f"row{i}"]
                                                                for i in range(5)]


def test_describe_dataframe():
    pd = pytest.importorskip("pandas")
    text = describe(pd.DataFrame({"a": [1.5, 2.5], "b": ["u", "v"]}))
    assert text.startswith("DataFrame: 2 rows x 2 columns\n  a: float64")
    assert "first 2 row(s):" in text and "2.5" in text


def test_describe_tensor():
    torch = pytest.importorskip("torch")
    text = describe(torch.arange(4, dtype=torch.float32))
    assert text == "tensor shape (4,) float32; min 0, mean 1.5, max 3"


def test_as_json():
    assert as_json({"a": [1, "x", None, 2.5]}) == {"a": [1, "x", None, 2.5]}
    assert as_json(np.int64(7)) == 7
    for value in (math.nan, np.arange(3), {1: "int key"}, b"bytes", object(),
                  list(range(100_000))):
        assert as_json(value) is NOT_JSON
