"""The fast manifest check never accepts what the JSON Schema refuses."""

from __future__ import annotations

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from storage.manifest import MANIFEST_SCHEMA, _plainly_valid

_HEX = st.sampled_from(["ab" * 32, "AB" * 32, "ab" * 31, "ab" * 32 + "\n", ""])
_ANY = st.none() | st.booleans() | st.integers(-2, 2**54) | st.floats() | st.text(max_size=4)
_FIELDS = {
    "format": st.sampled_from([1, 1.0, 2, True, "1"]) | _ANY,
    "key": _HEX | _ANY, "content_digest": _HEX | _ANY,
    "socket": st.integers(-1, 1025) | _ANY, "nbytes": st.integers(-1, 2**54) | _ANY,
    "codec": st.sampled_from(["plain", "", "a b", "x" * 65]) | _ANY,
    "summary": st.dictionaries(st.text(max_size=2), _ANY, max_size=2) | _ANY,
    "created": st.floats() | _ANY, "task": _ANY | st.text(min_size=999, max_size=1001),
    "inline": _ANY,
}


VALID = {"format": 1, "key": "ab" * 32, "socket": 0, "codec": "plain", "nbytes": 3,
         "content_digest": "cd" * 32, "summary": {}, "created": 1.0, "task": None}


@settings(max_examples=1000, deadline=None)
@given(st.fixed_dictionaries({}, optional=_FIELDS))
def test_fast_check_is_at_least_as_strict_as_the_schema(changes):
    doc = {**VALID, **changes}
    if _plainly_valid(doc):
        assert not list(jsonschema.Draft202012Validator(MANIFEST_SCHEMA).iter_errors(doc))


def test_the_fast_check_accepts_valid_manifests():
    assert _plainly_valid(VALID) and not _plainly_valid({**VALID, "nbytes": float("inf")})
