"""Signer: K2 sensitivity along descendants only, O(n) iteration, memo, recipes."""

from __future__ import annotations

import dataclasses
import json
import random
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

import keys
from keys import Key, Recipe, Signer, SigningError, UnhashableError, digest


@dataclasses.dataclass
class Node:
    id: str
    identity: str
    literals: Mapping[str, Any]
    links: Mapping[str, tuple[str, int]]


def random_dag(seed: int, n: int = 60) -> list[Node]:
    rng = random.Random(seed)
    nodes = []
    for i in range(n):
        links = {
            f"in{j}": (f"n{rng.randrange(i)}", rng.randrange(3))
            for j in range(min(i, rng.randrange(4)))
        }
        literals = {"alpha": rng.choice([0.5, 0.7, 1]), "name": f"step{i % 7}", "i": i}
        nodes.append(Node(f"n{i}", f"pkg.task{i % 5}@v=1", literals, links))
    return nodes


def descendants(nodes: list[Node], start: str) -> set[str]:
    out = {start}
    for node in nodes:  # topological order: one pass suffices
        if any(parent in out for parent, _ in node.links.values()):
            out.add(node.id)
    return out


def changed(before: dict[str, Key], after: dict[str, Key]) -> set[str]:
    return {nid for nid in before if before[nid] != after[nid]}


@pytest.mark.parametrize("seed", range(8))
def test_changes_propagate_to_exactly_the_descendants(seed: int) -> None:
    nodes = random_dag(seed)
    base = Signer().sign(nodes)
    assert len(set(base.values())) == len(nodes)
    rng = random.Random(seed + 100)
    target = rng.choice(nodes[1:])
    mutations = {
        "literal": lambda n: dataclasses.replace(n, literals={**n.literals, "alpha": 0.123}),
        "identity": lambda n: dataclasses.replace(n, identity=n.identity + "-2"),
        "rename": lambda n: dataclasses.replace(
            n, literals={"beta" if k == "alpha" else k: v for k, v in n.literals.items()}
        ),
        "new_literal": lambda n: dataclasses.replace(n, literals={**n.literals, "extra": None}),
    }
    if target.links:
        name, (parent, socket) = next(iter(target.links.items()))
        other = next(m.id for m in nodes if m.id not in (parent, target.id))
        other = (
            other
            if nodes.index(next(m for m in nodes if m.id == other)) < nodes.index(target)
            else None
        )
        mutations["socket"] = lambda n: dataclasses.replace(
            n, links={**n.links, name: (parent, socket + 1)}
        )
        mutations["link_name"] = lambda n: dataclasses.replace(
            n, links={("x_" + k if k == name else k): v for k, v in n.links.items()}
        )
        if other is not None:
            mutations["target"] = lambda n: dataclasses.replace(
                n, links={**n.links, name: (other, socket)}
            )
    expected = descendants(nodes, target.id)
    for label, mutate in mutations.items():
        mutated = [mutate(n) if n.id == target.id else n for n in nodes]
        assert changed(base, Signer().sign(mutated)) == expected, label


def test_node_ids_never_enter_the_key_and_sign_is_deterministic() -> None:
    nodes = random_dag(3)
    renamed = [
        dataclasses.replace(
            n, id="x" + n.id, links={k: ("x" + p, s) for k, (p, s) in n.links.items()}
        )
        for n in nodes
    ]
    a, b = Signer().sign(nodes), Signer().sign(renamed)
    assert [a[n.id] for n in nodes] == [b["x" + n.id] for n in nodes]
    assert Signer().sign(nodes) == a


def test_input_order_in_mappings_is_irrelevant() -> None:
    s = Signer()
    p1, p2 = digest(1), digest(2)
    k = s.sign_node("f", {"a": 1, "b": 2}, {"x": (p1, 0), "y": (p2, 1)})
    assert s.sign_node("f", {"b": 2, "a": 1}, {"y": (p2, 1), "x": (p1, 0)}) == k
    assert s.sign_node("f", {"a": 1, "b": 2}, {"x": (p2, 0), "y": (p1, 1)}) != k


def test_sign_and_sign_node_agree() -> None:
    nodes = random_dag(5, n=20)
    s = Signer()
    got = s.sign(nodes)
    for node in nodes:
        links = {name: (got[pid], sock) for name, (pid, sock) in node.links.items()}
        assert Signer().sign_node(node.identity, node.literals, links, node.id) == got[node.id]


def test_deep_chain_signs_without_recursion() -> None:
    n = 200_000
    nodes = [Node("0", "m.f@v=1", {"i": 0}, {})]
    nodes += [Node(str(i), "m.f@v=1", {}, {"prev": (str(i - 1), 0)}) for i in range(1, n)]
    result = Signer().sign(nodes)
    assert len(result) == n and len(set(result.values())) == n


def test_big_literal_shared_by_many_nodes_is_digested_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from keys import registry

    big = np.random.default_rng(0).random(1 << 18)  # 2 MiB
    digest(big)  # install numpy encoders
    calls = []
    original = registry._WRITERS[np.ndarray]

    def counting(enc: Any, value: Any) -> None:
        calls.append(1)
        original(enc, value)

    monkeypatch.setitem(registry._WRITERS, np.ndarray, counting)
    registry._RESOLVED.clear()
    signer = Signer()
    nodes = [Node(f"n{i}", "m.f@v=1", {"weights": big, "i": i}, {}) for i in range(1000)]
    result = signer.sign(nodes)
    registry._RESOLVED.clear()
    assert len(calls) == 1 and len(set(result.values())) == 1000
    recipe = signer.recipe(result["n7"])
    entry = next(e for e in recipe.literals if e.name == "weights")
    assert entry.digest == digest(big).hex() and entry.preview is None


def test_small_literals_inline_big_ones_digested() -> None:
    s = Signer()
    key_small = s.sign_node("f", {"t": 0.7}, {})
    key_big = s.sign_node("f", {"t": "x" * 500}, {})
    small, big = s.recipe(key_small).literals[0], s.recipe(key_big).literals[0]
    assert small.preview == "0.7" and small.digest == digest(0.7).hex()
    assert big.preview is None and big.digest == digest("x" * 500).hex()


def test_recipe_round_trips_through_json() -> None:
    s = Signer()
    parent = s.sign_node("pkg.load@v=1", {"path": "in.csv"}, {})
    key = s.sign_node(
        "pkg.fit@v=2", {"alpha": 0.5, "cfg": {"a": list(range(100))}}, {"data": (parent, 1)}
    )
    recipe = s.recipe(key)
    assert recipe.key == key.hex() and recipe.identity == "pkg.fit@v=2"
    assert [e.name for e in recipe.literals] == ["alpha", "cfg"]
    assert recipe.links[0].parent == parent.hex() and recipe.links[0].socket == 1
    assert Recipe.from_dict(json.loads(json.dumps(recipe.to_dict()))) == recipe
    other = Signer()
    key2 = other.sign_node(
        "pkg.fit@v=2", {"alpha": 0.7, "cfg": {"a": list(range(100))}}, {"data": (parent, 1)}
    )
    diff = [
        (a.preview, b.preview)
        for a, b in zip(recipe.literals, other.recipe(key2).literals, strict=True)
        if a != b
    ]
    assert diff == [("0.5", "0.7")]
    with pytest.raises(KeyError):
        s.recipe(digest("unknown"))


def test_unhashable_literal_names_node_input_path_and_fixes() -> None:
    class Foo:
        pass

    nodes = [Node("train-3", "pkg.train@v=1", {"cfg": {"model": {"weights": Foo()}}}, {})]
    with pytest.raises(UnhashableError) as info:
        Signer().sign(nodes)
    message = str(info.value)
    assert message.startswith(
        "input 'cfg' of node 'train-3' (pkg.train@v=1): cfg['model']['weights']"
    )
    assert "keys.register(Foo)" in message and "__digest__()" in message


def test_graph_errors_are_signing_errors() -> None:
    with pytest.raises(SigningError, match="not signed before it"):
        Signer().sign([Node("a", "f", {}, {"x": ("b", 0)}), Node("b", "f", {}, {})])
    with pytest.raises(SigningError, match="appears twice"):
        Signer().sign([Node("a", "f", {}, {}), Node("a", "f", {}, {})])
    with pytest.raises(SigningError, match="socket"):
        Signer().sign_node("f", {}, {"x": (digest(1), -1)})
    with pytest.raises(SigningError, match="both a literal and a link"):
        Signer().sign_node("f", {"x": 1}, {"x": (digest(1), 0)})
    with pytest.raises(SigningError, match="parent Key"):
        Signer().sign_node("f", {}, {"x": ("not a key", 0)})  # type: ignore[dict-item]


def test_key_is_32_bytes_whatever_the_depth() -> None:
    assert all(len(k.digest) == 32 for k in Signer().sign(random_dag(1)).values())
    assert keys.FORMAT_VERSION == 1


def test_signing_leaves_the_garbage_collector_as_it_found_it() -> None:
    import gc

    assert gc.isenabled()
    Signer().sign(random_dag(2, n=10))
    assert gc.isenabled(), "sign() left the cyclic garbage collector disabled"
    with pytest.raises(SigningError):
        Signer().sign([Node("a", "f", {}, {}), Node("a", "f", {}, {})])
    assert gc.isenabled(), "a failed sign() left the garbage collector disabled"
    gc.disable()
    try:
        Signer().sign(random_dag(2, n=10))
        assert not gc.isenabled(), "sign() enabled a collector its caller had disabled"
    finally:
        gc.enable()


def test_recipe_of_a_graph_names_parents_by_key() -> None:
    nodes = random_dag(6, n=12)
    signer = Signer()
    got = signer.sign(nodes)
    for node in nodes:
        recipe = signer.recipe(got[node.id])
        assert {(e.name, e.parent, e.socket) for e in recipe.links} == {
            (name, got[parent].hex(), socket) for name, (parent, socket) in node.links.items()
        }


def test_each_literal_object_is_encoded_once() -> None:
    class Counted:
        calls = 0

        def __digest__(self) -> object:
            Counted.calls += 1
            return list(range(50))

    shared = Counted()
    keys_ = Signer().sign([Node(f"n{i}", "f", {"a": shared, "b": i}, {}) for i in range(5)])
    assert Counted.calls == 1, "a literal shared by 5 nodes was encoded more than once"
    assert len(set(keys_.values())) == 5


def test_inline_limit_bounds() -> None:
    assert Signer(inline_limit=0).inline_limit == 0
    Signer(inline_limit=1023).sign_node("f", {"x": b"y" * 1000}, {})
    for bad in (-1, 1024):
        with pytest.raises(ValueError, match="inline_limit"):
            Signer(inline_limit=bad)
    zero = Signer(inline_limit=0)
    key = zero.sign_node("f", {"x": 1}, {})
    assert zero.recipe(key).literals[0].preview is None, "with limit 0 every literal is digested"


@pytest.mark.parametrize("socket", [2**32, -1, True, 1.0, "0"])
def test_bad_sockets_are_signing_errors(socket: object) -> None:
    with pytest.raises(SigningError, match=r"input 'x': socket must be an int in \[0, 2\*\*32\)"):
        Signer().sign_node("f", {}, {"x": (digest(1), socket)})  # type: ignore[dict-item]


def test_largest_socket_is_accepted() -> None:
    s = Signer()
    assert s.sign_node("f", {}, {"x": (digest(1), 2**32 - 1)}) != s.sign_node(
        "f", {}, {"x": (digest(1), 0)}
    )


def test_identities_and_names_must_be_strings() -> None:
    with pytest.raises(SigningError, match="must be str, got 5"):
        Signer().sign_node(5, {}, {})  # type: ignore[arg-type]
    with pytest.raises(SigningError, match="must be str, got 1"):
        Signer().sign_node("f", {1: "x"}, {})  # type: ignore[dict-item]


def test_literal_parts_ignore_links_and_follow_identity_and_literals() -> None:
    """What early cutoff keys its recipe digest on: nodes of one task with the same
    literals share it whatever they link to; any other identity or literal differs."""
    s = Signer()
    a, b = s.sign_node("t", {"x": 1}, {}), s.sign_node("t", {"x": 2}, {})
    big = np.arange(1000)
    one = s.sign_node("u", {"k": "v", "arr": big}, {"in": (a, 0)})
    two = s.sign_node("u", {"arr": big, "k": "v"}, {"in": (b, 0)})
    assert one != two and s.literal_parts(one) == s.literal_parts(two)
    assert s.literal_parts(one)[0] == "u"
    others = [s.sign_node("w", {"k": "v", "arr": big}, {"in": (a, 0)}),
              s.sign_node("u", {"k": "v2", "arr": big}, {"in": (a, 0)}),
              s.sign_node("u", {"k": "v", "arr": big + 1}, {"in": (a, 0)})]
    assert len({s.literal_parts(k) for k in [one, *others]}) == 4
    with pytest.raises(KeyError, match="not signed by this signer"):
        Signer().literal_parts(one)
