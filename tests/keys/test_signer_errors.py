"""What a user reads when signing goes wrong, and what ``explain`` reads from a recipe.

Each signing error names the input, the node (when the signer knows it) and the
task identity, then says what to do; the full text is pinned so a message that
loses its node or input fails here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import keys
from keys import File, Signer, SigningError, UnhashableError, digest


@dataclasses.dataclass
class Node:
    id: str
    identity: str
    literals: Mapping[str, Any]
    links: Mapping[str, tuple[str, int]]


def _message(exc: type[Exception], fn: Any, *args: Any, **kwargs: Any) -> str:
    with pytest.raises(exc) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_a_link_to_an_unsigned_node_names_input_node_task_and_target() -> None:
    nodes = [Node("a", "pkg.f@v=1", {}, {"x": ("b", 0)}), Node("b", "pkg.g@v=1", {}, {})]
    assert _message(SigningError, Signer().sign, nodes) == (
        "input 'x' of node 'a' (pkg.f@v=1): links to node 'b', which was not signed before "
        "it: pass nodes in topological order, and link only to nodes of the graph"
    )


def test_a_name_both_literal_and_link_is_named_with_its_node() -> None:
    nodes = [Node("p", "pkg.g@v=1", {}, {}), Node("c", "pkg.f@v=1", {"x": 1}, {"x": ("p", 0)})]
    assert _message(SigningError, Signer().sign, nodes) == (
        "input 'x' of node 'c' (pkg.f@v=1): is both a literal and a link"
    )
    # without a node id (sign_node), the message names no node
    assert _message(SigningError, Signer().sign_node, "pkg.f@v=1", {"x": 1},
                    {"x": (digest(1), 0)}) == "input 'x' (pkg.f@v=1): is both a literal and a link"


@pytest.mark.parametrize("link", [[digest(1), 0], (digest(1), 0, 1), (digest(1),), ("k", 0)])
def test_sign_node_accepts_only_key_socket_pairs(link: Any) -> None:
    assert _message(SigningError, Signer().sign_node, "pkg.f@v=1", {}, {"x": link},
                    node_id="n7") == (
        f"input 'x' of node 'n7' (pkg.f@v=1): link must be (parent Key, socket), got {link!r}"
    )


def test_sign_node_names_its_node_in_literal_errors() -> None:
    class Opaque:
        pass

    message = _message(UnhashableError, Signer().sign_node, "pkg.f@v=1",
                       {"cfg": {"w": Opaque()}}, {}, node_id="n7")
    assert message.startswith("input 'cfg' of node 'n7' (pkg.f@v=1): cfg['w'] has type "), message


def test_a_recipe_the_signer_does_not_hold_says_why() -> None:
    unknown = digest("unknown")
    with pytest.raises(KeyError) as info:
        Signer().recipe(unknown)
    assert info.value.args == (f"{unknown!r} was not signed by this signer",)
    lean = Signer(recipes=False)
    key = lean.sign_node("pkg.f@v=1", {"x": 1}, {})
    with pytest.raises(KeyError) as info:
        lean.recipe(key)
    assert info.value.args == (
        f"{key!r} was not signed by this signer (it was made with recipes=False)",
    )


def _helper(x: int) -> int:
    return x + 1


def _task(x: int) -> int:
    return _helper(x) * 2


def test_a_recipe_carries_the_code_closure_explain_compares() -> None:
    identity = keys.task_identity(_task)
    signer = Signer()
    recipe = signer.recipe(signer.sign_node(identity, {"x": 1}, {}))
    assert recipe.code == keys.code_parts(identity)
    assert any("_helper" in part.name for part in recipe.code), recipe.code


def test_a_long_inline_literal_previews_as_sixty_characters() -> None:
    signer = Signer(inline_limit=1000)
    value = "a" * 100
    entry = signer.recipe(signer.sign_node("pkg.f@v=1", {"s": value}, {})).literals[0]
    assert entry.digest == digest(value).hex()
    assert entry.preview == repr(value)[:59] + "…"


def test_a_file_literal_previews_as_its_path(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("a,b\n1,2\n")
    signer = Signer()
    entry = signer.recipe(signer.sign_node("pkg.f@v=1", {"src": File(path)}, {})).literals[0]
    assert entry.preview == f"keys.File({str(path)!r})"
    assert entry.digest == digest(File(path)).hex()
