"""Node keys: golden digests, the preimage spelled out byte by byte, domain separation.

Value digests are pinned in test_golden.py; these pin how a node's identity,
literals and links are framed into its key. If a change is intended, bump
``keys._format.KEY_FORMAT_VERSION`` (node keys) or ``FORMAT_VERSION`` (value
encodings) and repaste ``NODE_GOLDEN`` from ``python -m tests.keys.test_node_keys``.

Key format 2: identities became code closures (``@code=``, was ``@code=``) and
the format version joined the node domain tag, so every format-1 node key is
a clean miss; ``NODE_GOLDEN`` was repasted for that change.
"""

from __future__ import annotations

from typing import Any

from blake3 import blake3

import keys
from keys import Key, Signer

PARENT = Key(bytes(range(32)))
OTHER = Key(bytes(range(32, 64)))
IDENT = "pkg.step@v=1"


def node_cases() -> dict[str, tuple[str, dict[str, Any], dict[str, tuple[Key, int]]]]:
    """(identity, literals, links) per case: every part of the framing, one at a time."""
    at_limit = "x" * 51  # header 4 + tag 1 + length 8 + 51 = 64 bytes: inline
    return {
        "bare": (IDENT, {}, {}),
        "other_identity": ("pkg.step@v=2", {}, {}),
        "literal_int": (IDENT, {"n": 1}, {}),
        "literal_int_100": (IDENT, {"n": 100}, {}),
        "literal_float": (IDENT, {"n": 1.0}, {}),
        "literal_str": (IDENT, {"n": "1"}, {}),
        "literal_renamed": (IDENT, {"m": 1}, {}),
        "literal_none": (IDENT, {"n": None}, {}),
        "literal_list": (IDENT, {"n": [1, "a"]}, {}),
        "two_literals": (IDENT, {"b": 2.5, "a": None}, {}),
        "literal_at_inline_limit": (IDENT, {"s": at_limit}, {}),
        "literal_past_inline_limit": (IDENT, {"s": at_limit + "x"}, {}),
        "container_at_inline_limit": (IDENT, {"s": ["x" * 42]}, {}),
        "container_past_inline_limit": (IDENT, {"s": ["x" * 43]}, {}),
        "literal_big": (IDENT, {"s": "y" * 500}, {}),
        "many_literals": (IDENT, {f"p{i:02d}": i for i in range(70)}, {}),
        "sixty_four_literals": (IDENT, {f"p{i:02d}": i for i in range(64)}, {}),
        "sixty_four_links": (IDENT, {}, {f"l{i:02d}": (PARENT, i) for i in range(64)}),
        "link": (IDENT, {}, {"data": (PARENT, 0)}),
        "link_socket_1": (IDENT, {}, {"data": (PARENT, 1)}),
        "link_socket_1024": (IDENT, {}, {"data": (PARENT, 1024)}),
        "link_other_parent": (IDENT, {}, {"data": (OTHER, 0)}),
        "link_renamed": (IDENT, {}, {"table": (PARENT, 0)}),
        "two_links": (IDENT, {}, {"y": (OTHER, 2), "x": (PARENT, 0)}),
        "literals_and_links": (IDENT, {"alpha": 0.5, "mode": "fast"}, {"data": (PARENT, 3)}),
    }


NODE_GOLDEN = {
    "bare": "a2ab9d43e4dd8529f841e30b22bbbd787688b95216e5b82a5907cf40a05e91a4",
    "other_identity": "63565d739fb9dd95dfaaafb4c31c95be78291ff9dc20871ecb9e904c0563bed8",
    "literal_int": "86e7d92d0cbf6a27b9c79daed71855965c7c9029362029177bbf56b0f8774e63",
    "literal_int_100": "086ab4f0f89d9da1480727293a14d1830529224a94136db48bfaaa49851b0680",
    "literal_float": "1023504aa296b93eb937c5d63919c3d49a765ef28414eff083ddc281bf7063a4",
    "literal_str": "7d1385b336cdd9840c2c1c77d4c9c5d3ead464e0f8ef4db017b6973fbdd5becf",
    "literal_renamed": "7e271c59f41121fbfc59627549f1fa5813892060b368262005b979a1376b462b",
    "literal_none": "dcb148006a48a05f5ba31994c930c5ba268ad44bdc0f03dc0173dbc60f24c79e",
    "literal_list": "5610d9bc00da30a9b77e6e9e1836554d5a7520c4efdc9457ec169db722c2bd3c",
    "two_literals": "85ac069798b9efa9535319dd326928db1bf12248598af4b52f2f3cfed64986dd",
    "literal_at_inline_limit": "844e198a7d9659f89d5466dfcd2f17662b6041fa0139c65ab65c6f40b5bb0c2d",
    "literal_past_inline_limit": "650942a985d0e478260062e65c0a9f98d9e486e0a303e42dca7879bf31b67f3f",
    "container_at_inline_limit": "ce04b1a94382ec2352a489a78cd22302561e321411bf720e299dfb51b9db1374",
    "container_past_inline_limit": "f08b68b6f13ff2e8f5d5f479261cbfb6a0bef8586e81b2e0dda5ef67c251344a",
    "literal_big": "246542cd6382cc8f5700066f022923adb57b96201e5205d0b8fef8121f7af4c2",
    "many_literals": "b1cb71bcd1fa3a036c50ddf27fc64005fd92f2b029c7ba04a46b915154923439",
    "sixty_four_literals": "b85e6959abffd1278b28ccdff5840ad537db4f3f69cd03338e0265e3efbf0780",
    "sixty_four_links": "7b29e96b9f59322b732f25e97df0f020dcb8c8a134f38befbbf68e58d5daefe6",
    "link": "ce980f0ec562df412d6a9fb087a616ee67dee724caf3ca49f0499f2cc9b60518",
    "link_socket_1": "eec0babb98853d9ff031b669200f0ad4b17a600a9b5b0765f3eb1e372c53b390",
    "link_socket_1024": "a4396ce3bd35d8ad905686953d832b9e91cdc29a400b82d1349306f57cd45337",
    "link_other_parent": "e7430118ed5cc8fe60fe3b6346bc4813980bd19684b5ec3de42d65b30c95fdab",
    "link_renamed": "d3dae386e731bce905180a7ebaa2f064c9309e294f7ef6915116638b0b912cc2",
    "two_links": "d3ac95bf9eea42e97bb3497a757894ca0f89b1a5502788a0ff11b3ccaa7e3c6c",
    "literals_and_links": "26db1bd09533ac80849e708dd8759b3c157b50a5f5b9d6145983c63f7ce00012",
}


def _sign_all() -> dict[str, str]:
    return {
        name: Signer().sign_node(identity, literals, links).hex()
        for name, (identity, literals, links) in node_cases().items()
    }


def test_node_keys_match_pinned_digests() -> None:
    assert keys.KEY_FORMAT_VERSION == 2
    got = _sign_all()
    wrong = {name: hexd for name, hexd in got.items() if NODE_GOLDEN.get(name) != hexd}
    assert not wrong, (
        f"the node keys of {sorted(wrong)} changed (framing drift?); if the change is "
        f"intended, bump KEY_FORMAT_VERSION and repaste (see this module's docstring): {wrong}"
    )


def test_every_case_has_a_distinct_key() -> None:
    by_key: dict[str, list[str]] = {}
    for name, hexd in _sign_all().items():
        by_key.setdefault(hexd, []).append(name)
    shared = [names for names in by_key.values() if len(names) > 1]
    assert not shared, f"different nodes share a key: {shared}"


# The format, written out by hand rather than imported, so a change to any tag or
# to the framing fails here with the part named.
NODE_TAG = b"digestflow:node\x00\x02"  # the key format version (2) ends the tag
VALUE_TAG = b"digestflow:value\x00"
HEADER = b"dfk\x01"


def _n(count: int) -> bytes:
    return count.to_bytes(8, "little")


def _s(text: str) -> bytes:
    data = text.encode()
    return b"s" + _n(len(data)) + data


def test_node_preimage_spelled_out() -> None:
    big = "y" * 500
    literal_one = HEADER + b"i" + _n(1) + b"\x01"
    literal_str = HEADER + _s("fast")
    preimage = b"".join([
        NODE_TAG,
        _s(IDENT),
        _n(3),  # literals, sorted by name
        _s("big"), b"H", blake3(VALUE_TAG + HEADER + _s(big)).digest(),
        _s("mode"), b"I" + _n(len(literal_str)), literal_str,
        _s("n"), b"I" + _n(len(literal_one)), literal_one,
        _n(2),  # links, sorted by name
        _s("a"), b"ANCESTOR", OTHER.digest, (7).to_bytes(4, "little"),
        _s("b"), b"ANCESTOR", PARENT.digest, (0).to_bytes(4, "little"),
    ])
    got = Signer().sign_node(
        IDENT, {"n": 1, "mode": "fast", "big": big}, {"b": (PARENT, 0), "a": (OTHER, 7)}
    )
    assert got == Key(blake3(preimage).digest()), "the node preimage is not framed as documented"


def test_int_literals_are_framed_as_their_value_encoding() -> None:
    """Ints take a shortcut past the signer's literal memo; their framing must stay
    that of ``keys.encode`` at every size, sign and inline limit."""
    values = [0, 1, -1, 127, 128, -128, -129, 255, 256, 2**63 - 1, -(2**63), 2**400,
              -(2**400), 2**8000]
    for limit in (0, 13, 14, 20, 64, 1023):
        signer = Signer(inline_limit=limit)
        for value in values:
            enc = keys.encode(value)
            framed = (b"I" + _n(len(enc)) + enc if len(enc) <= limit
                      else b"H" + keys.digest(value).digest)
            preimage = NODE_TAG + _s(IDENT) + _n(1) + _s("n") + framed + _n(0)
            key = signer.sign_node(IDENT, {"n": value}, {})
            assert key == Key(blake3(preimage).digest()), (limit, value)
            entry = signer.recipe(key).literals[0]
            assert entry.digest == keys.digest(value).hex(), (limit, value)
    assert Signer().sign_node(IDENT, {"n": True}, {}) != Signer().sign_node(IDENT, {"n": 1}, {})


def test_value_preimage_spelled_out() -> None:
    assert keys.digest("fast") == Key(blake3(VALUE_TAG + HEADER + _s("fast")).digest())
    assert keys.digest(None) == Key(blake3(VALUE_TAG + HEADER + b"N").digest())


def test_node_keys_and_value_digests_live_in_separate_domains() -> None:
    """A node preimage starts with the node tag, a value preimage with the value tag,
    and neither tag is a prefix of the other: no node key can equal a value digest."""
    assert not NODE_TAG.startswith(VALUE_TAG) and not VALUE_TAG.startswith(NODE_TAG)
    assert keys._format.NODE_DOMAIN == NODE_TAG and keys._format.VALUE_DOMAIN == VALUE_TAG
    bare = Signer().sign_node(IDENT, {}, {})
    body = _s(IDENT) + _n(0) + _n(0)
    assert bare == Key(blake3(NODE_TAG + body).digest())
    assert bare != Key(blake3(VALUE_TAG + body).digest())
    # the digest of a big literal inside a node key is its value digest, as explain shows it
    signer = Signer()
    key = signer.sign_node(IDENT, {"s": "y" * 500}, {})
    assert signer.recipe(key).literals[0].digest == keys.digest("y" * 500).hex()
    assert key != keys.digest("y" * 500)


if __name__ == "__main__":
    for case, hexd in _sign_all().items():
        print(f'    "{case}": "{hexd}",')
