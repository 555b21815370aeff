"""``runner.sign`` on targets from bind signs as it walks them, without a Graph.

Whatever a bound graph holds, its keys, its errors and its path-literal
warning must be those of the graph path (``sign_targets``, which ``run`` and
``explain`` use), with or without recipes.
"""

from __future__ import annotations

import enum
import random
import warnings
from pathlib import Path
from typing import Any

import pytest

from keys import SigningError
from runner import sign, task
from runner.file_inputs import PathLiteralWarning
from runner.prepare import sign_targets
from tests.runner.tasks import combine, gather, nest, source, split


class Mode(enum.IntEnum):
    FAST = 1


@task(name="named")
def first(x: Any = None) -> Any:
    return x


@task(name="source-1")  # clashes with the generated id of the first `source` node
def clash(x: Any) -> Any:
    return x


@task(fingerprint=lambda url: url.upper())
def fetch(url: str, other: Any = None) -> str:
    return url


@task(volatile=True)
def clock(tag: Any, path: Any = None) -> Any:
    return tag


SHARED = list(range(100))  # a big literal shared by many nodes: digested once
LITERALS: list[Any] = [
    0, 1, -1, 255, 256, -129, 2**63, -(2**200), 2**600, True, False, None, 0.5, -0.0,
    float("nan"), 1 + 2j, "", "x", "y" * 80, b"bytes", [1, "a"], (1,), {"b": 2, "a": 1},
    SHARED, Mode.FAST, frozenset({3}), "data/file.csv", Path("some/where.txt"),
]


def _bound_graph(seed: int, n: int = 80) -> list[Any]:
    """Every kind of input bind can give: literals of all sorts, varargs, **kwargs,
    sockets, nodes inside lists/dicts, fingerprints, volatile and named tasks."""
    rng = random.Random(seed)
    lit = lambda: rng.choice(LITERALS)  # noqa: E731
    out: list[Any] = [source.bind(f"s{i}", lit()) for i in range(3)]
    readable: list[Any] = list(out)
    pick = lambda: rng.choice(readable)  # noqa: E731
    for _ in range(n):
        kind = rng.randrange(9)
        if kind == 0:
            node = combine.bind(lit(), *rng.sample(readable, rng.randint(0, 3)), k=lit())
        elif kind == 1:
            lo_hi = split.bind(lit(), pick())
            readable += [lo_hi[0], lo_hi[1]]
            node = lo_hi
        elif kind == 2:
            node = gather.bind(lit(), **{f"n{j}": rng.choice([pick(), lit()]) for j in range(3)})
        elif kind == 3:
            node = nest.bind(lit(), rng.choice([[pick(), lit()], {"w": pick(), "v": (lit(),)},
                                                [lit(), (pick(), [pick()])], [lit()]]))
        elif kind == 4:
            node = fetch.bind(rng.choice(["u", "s3://b/x"]), rng.choice([lit(), pick()]))
        elif kind == 5:
            node = clock.bind(lit(), rng.choice([lit(), pick()]))
        elif kind == 6:
            node = first.bind(rng.choice([lit(), pick()]))
        elif kind == 7:
            node = clash.bind(pick())
        else:
            node = source.bind(lit(), lit())
        if kind != 1:
            readable.append(node)
        out.append(node)
    rng.shuffle(out)
    return out


@pytest.mark.parametrize("seed", range(6))
def test_keys_are_those_of_the_graph_path(seed: int) -> None:
    targets = _bound_graph(seed)
    keys = sign(targets)
    assert keys == sign_targets(targets, recipes=False).keys
    assert keys == sign_targets(targets).keys
    assert len(keys) > 80


def test_keys_of_outputs_and_nested_target_shapes() -> None:
    lo_hi = split.bind("p", source.bind("a", 1))
    targets = {"lo": lo_hi[0], "both": [lo_hi, (nest.bind("n", [lo_hi[1], 2]),)]}
    assert sign(targets) == sign_targets(targets).keys
    assert sign([]) == {}


def _error(fn: Any, targets: Any) -> str:
    with pytest.raises(SigningError) as caught:
        fn(targets)
    return str(caught.value)


@pytest.mark.parametrize("bad", [object(), [1, object()], {"k": {object()}}])
def test_unencodable_literals_fail_with_the_graph_paths_message(bad: Any) -> None:
    targets = combine.bind("c", source.bind("a", 1), k=bad)
    message = _error(sign, targets)
    assert message == _error(lambda t: sign_targets(t, recipes=False), targets)
    assert "input 'k' of node 'combine-1'" in message


def test_fingerprint_errors_match() -> None:
    @task(fingerprint=lambda url: 1 / 0)
    def broken(url: str) -> str:
        return url

    targets = broken.bind(source.bind("a", 1))
    message = _error(sign, targets)
    assert message == _error(sign_targets, targets)
    assert message.startswith("fingerprint of node 'broken-1' (task broken) raised")


def test_path_literals_warn_as_the_graph_path_does(tmp_path: Path) -> None:
    files = [tmp_path / f"f{i}.csv" for i in range(7)]
    for path in files:
        path.write_text("x")
    targets = [combine.bind(str(files[0]), source.bind(str(files[1]), 1), k=[str(files[2])]),
               nest.bind("n", [str(files[3]), source.bind("b", 2)]),  # a template: no warning
               clock.bind("t", str(files[4])),  # volatile: left out
               fetch.bind(str(files[5]), files[6]), first.bind(files[6])]

    def message(fn: Any) -> str:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fn(targets)
        found = [w for w in caught if issubclass(w.category, PathLiteralWarning)]
        assert len(found) == 1
        return str(found[0].message)

    text = message(sign)
    assert text == message(sign_targets)
    assert text.startswith("6 path literal(s)") and "f3.csv" not in text and "f4" not in text
