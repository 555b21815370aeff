""""Did you mean": the first-hour mistakes get advice that names the fix."""

from __future__ import annotations

import pytest

from keys import UnhashableError
from runner import ValidationError, sign, task
from tests.runner.tasks import combine, source


@task
def scale(values, factor=2):
    return [v * factor for v in values]


def test_task_called_with_a_node_suggests_bind():
    with pytest.raises(ValidationError) as info:
        scale(source.bind("s", 1))
    text = str(info.value)
    assert "task 'scale' was called with a node" in text
    assert "argument 0 is <node source bound at test_hints.py:" in text
    assert "Did you mean scale.bind(...)?" in text
    with pytest.raises(ValidationError, match="argument 'values' is <node source"):
        scale(values=[source.bind("s", 1)])


def test_calling_a_task_on_plain_values_still_runs_it():
    assert scale([1, 2], factor=3) == [3, 6]


def test_misspelt_keyword_names_the_closest_parameter():
    with pytest.raises(ValidationError) as info:
        source.bind("x", vlaue=1)  # the required 'value' is missing because of the typo
    assert "unexpected keyword argument 'vlaue': did you mean 'value'?" in str(info.value)
    with pytest.raises(ValidationError, match="unexpected keyword argument 'factr': did you "
                                              "mean 'factor'"):
        scale.bind([1], factr=3)
    with pytest.raises(ValidationError, match=r"'zzz' \(parameters: label, value\)"):
        source.bind("x", 1, zzz=2)


def test_var_keyword_tasks_take_any_keyword():
    assert combine.bind("c", 1, k=2) is not None


def test_a_lambda_literal_gets_advice_about_functions():
    with pytest.raises(UnhashableError) as info:
        sign(scale.bind([1], factor=lambda x: x))
    text = str(info.value)
    assert "factor is a function" in text and "keys.register" not in text
    assert "call it inside the task" in text


def test_a_dataframe_literal_gets_advice_that_works():
    pd = pytest.importorskip("pandas")
    pa = pytest.importorskip("pyarrow")
    frame = pd.DataFrame({"a": [1, 2]})
    with pytest.raises(UnhashableError) as info:
        sign(scale.bind(frame))
    text = str(info.value)
    assert "pandas DataFrame literal" in text and "pyarrow.Table.from_pandas(df)" in text
    keys = sign(scale.bind(pa.Table.from_pandas(frame)))  # the advice works
    other = sign(scale.bind(pa.Table.from_pandas(pd.DataFrame({"a": [1, 3]}))))
    assert keys["scale-1"] != other["scale-1"]
