"""Property test: the plain codec round-trips every builtin value exactly (types,
float bits, key order) and refuses what it cannot represent."""

from __future__ import annotations

import io

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.codecs.base import CodecContext
from storage.codecs.plain import PlainCodec
from tests.storage.helpers import typed

_CTX = CodecContext("0" * 64, 0, lambda: b"")

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**300), max_value=2**300)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.binary()
)
hashables = st.recursive(scalars, lambda inner: st.tuples(inner, inner), max_leaves=8)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(inner, max_size=4).map(tuple)
        | st.dictionaries(hashables, inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=300, deadline=None)
@given(values)
def test_plain_round_trip_is_exact(value: object) -> None:
    codec = PlainCodec()
    assert codec.accepts(value)
    sink = io.BytesIO()
    codec.encode(value, sink, _CTX)
    assert typed(codec.decode(sink.getvalue(), {}, _CTX)) == typed(value)


def test_plain_refuses_subclasses_and_cycles() -> None:
    class MyInt(int):
        pass

    cyclic: list = []
    cyclic.append(cyclic)
    codec = PlainCodec()
    assert not codec.accepts(MyInt(1))
    assert not codec.accepts({1, 2})
    assert not codec.accepts(cyclic)
    deep: list = []
    for _ in range(150):
        deep = [deep]
    assert not codec.accepts(deep)
