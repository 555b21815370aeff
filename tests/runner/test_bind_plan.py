"""``bind`` without ``inspect`` where a call binds cleanly: the same inputs, in the same
order, with the same defaults; every other call still bound (or explained) by ``inspect``."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest

from runner import task
from runner.errors import ValidationError
from runner.node import fast_inputs, signature_inputs

DEFAULT = object()


def plain(a, b=2, *, c, d=DEFAULT):  # type: ignore[no-untyped-def]
    return a


def defaults(a=1, b=None):  # type: ignore[no-untyped-def]
    return a


def nothing():  # type: ignore[no-untyped-def]
    return 0


def varargs(a, *rest, k=1, **kw):  # type: ignore[no-untyped-def]
    return a


def positional_only(a, /, b=2):  # type: ignore[no-untyped-def]
    return a


TASKS = [task(fn) for fn in (plain, defaults, nothing, varargs, positional_only)]
ARGS: list[tuple[Any, ...]] = [(), (1,), (1, 2), (1, 2, 3)]
KWARGS: list[dict[str, Any]] = [
    {}, {"a": 9}, {"b": 8}, {"c": 7}, {"d": 6}, {"a": 9, "c": 7}, {"c": 7, "d": 6, "b": 5},
    {"c": 7, "zz": 1}, {"rest": 1}, {"k": 3}, {"kw": 2}, {"b": 8, "a": 9, "c": 7},
]


def _outcome(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return list(fn(*args, **kwargs).items())
    except ValidationError as err:
        return re.sub(r"bound at \S+:", "bound at X:", str(err))


def _bound_inputs(t: Any, *args: Any, **kwargs: Any) -> Any:
    return t.bind(*args, **kwargs).inputs


@pytest.mark.parametrize("t", TASKS, ids=lambda t: t.name)
def test_bind_gives_the_inputs_and_errors_inspect_gives(t: Any) -> None:
    for args, kwargs in itertools.product(ARGS, KWARGS):
        expected = _outcome(signature_inputs, t, args, kwargs, "here")
        assert _outcome(_bound_inputs, t, *args, **kwargs) == expected, (args, kwargs)
        fast = fast_inputs(t.bind_plan, args, kwargs)
        if fast is not None:
            assert list(fast.items()) == expected, (args, kwargs)


def test_clean_calls_take_the_fast_path_and_keep_default_objects() -> None:
    t = task(plain)
    inputs = fast_inputs(t.bind_plan, (1,), {"c": 3})
    assert inputs is not None and list(inputs.items()) == [("a", 1), ("b", 2), ("c", 3),
                                                           ("d", DEFAULT)]
    assert inputs["d"] is DEFAULT
    assert fast_inputs(task(varargs).bind_plan, (1,), {}) is None, "*args: inspect binds it"
    assert fast_inputs(task(positional_only).bind_plan, (1,), {}) is None
