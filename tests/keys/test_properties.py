"""Property tests: the encoding is injective on nested values of mixed types,
and independent of dict insertion order."""

from __future__ import annotations

import struct
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from keys import encode

atoms = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=5)
    | st.binary(max_size=5)
)
hashables = st.recursive(
    atoms, lambda inner: st.tuples(inner, inner) | st.frozensets(inner, max_size=3), max_leaves=6
)
values = st.recursive(
    hashables,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(hashables, inner, max_size=4)
        | st.sets(hashables, max_size=4)
    ),
    max_leaves=12,
)


def canon(value: Any) -> str:
    """A type-aware identity, written independently of the encoder under test."""
    tp = type(value)
    if value is None or tp is bool:
        return repr(value)
    if tp is int:
        return f"int:{value}"
    if tp is float:
        return f"float:{struct.pack('<d', value).hex()}"
    if tp is str:
        return f"str:{value!r}"
    if tp is bytes:
        return f"bytes:{value.hex()}"
    if tp in (list, tuple):
        return f"{tp.__name__}[{','.join(canon(v) for v in value)}]"
    if tp in (set, frozenset):
        return f"{tp.__name__}{{{','.join(sorted(canon(v) for v in value))}}}"
    if tp is dict:
        return "dict{" + ",".join(sorted(f"{canon(k)}:{canon(v)}" for k, v in value.items())) + "}"
    raise AssertionError(tp)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, min_size=2, max_size=8))
def test_encoding_is_injective_and_deterministic(batch: list[Any]) -> None:
    by_canon: dict[str, bytes] = {}
    by_encoding: dict[bytes, str] = {}
    for value in batch:
        c, e = canon(value), encode(value)
        assert by_canon.setdefault(c, e) == e  # equal values -> equal encodings
        assert by_encoding.setdefault(e, c) == c  # distinct values -> distinct encodings


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(hashables, values, max_size=6), st.randoms())
def test_dict_encoding_ignores_insertion_order(mapping: dict[Any, Any], rnd: Any) -> None:
    items = list(mapping.items())
    rnd.shuffle(items)
    assert encode(dict(items)) == encode(mapping)


@settings(max_examples=200, deadline=None)
@given(values, values)
def test_containers_frame_their_elements(a: Any, b: Any) -> None:
    if canon(a) != canon(b):
        assert encode([a, b]) != encode([b, a]) or canon([a, b]) == canon([b, a])
        assert encode((a,)) != encode((b,))
