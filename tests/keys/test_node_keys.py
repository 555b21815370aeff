"""Node keys: golden digests, the preimage spelled out byte by byte, domain separation.

Value digests are pinned in test_golden.py; these pin how a node's identity,
literals and links are framed into its key. If a change is intended, bump
``keys._format.FORMAT_VERSION`` and repaste ``NODE_GOLDEN`` from
``python -m tests.keys.test_node_keys``.
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
        "link": (IDENT, {}, {"data": (PARENT, 0)}),
        "link_socket_1": (IDENT, {}, {"data": (PARENT, 1)}),
        "link_socket_1024": (IDENT, {}, {"data": (PARENT, 1024)}),
        "link_other_parent": (IDENT, {}, {"data": (OTHER, 0)}),
        "link_renamed": (IDENT, {}, {"table": (PARENT, 0)}),
        "two_links": (IDENT, {}, {"y": (OTHER, 2), "x": (PARENT, 0)}),
        "literals_and_links": (IDENT, {"alpha": 0.5, "mode": "fast"}, {"data": (PARENT, 3)}),
    }


NODE_GOLDEN = {
    "bare": "2facf7052cf597beac01ee7eb7962ab654f09c75c6100e854672a239fd4eafac",
    "other_identity": "61004a5d7d701f2e8a235dfccb71c3c86461d8d55f6bcb3a9bd3caf55e7642f1",
    "literal_int": "f30bf7c6d94a6c1a98cd709ee2db02d94c9173a1964d9a898fd4be8b0a8a0f92",
    "literal_int_100": "49d2d89ba5c46b0fee1e55a99ea265228b52a57b6d3bf81b65d49710edacffcf",
    "literal_float": "57f5cc352201223722618a60c99edcf9aebda8703f8c111e081ac55b205d9235",
    "literal_str": "a963b7131d3ab31eb3b9330ceebc6762b56e0d852b708f2c6a7c2a272915634a",
    "literal_renamed": "e7018b64dbced64e538c2a5d73676f4fcab147553dddbec4900b56971cf168b5",
    "literal_none": "eb23bf77684f3b8f958e5f8ccc5b3f65785f40380636daaf4eff2151266d56ba",
    "literal_list": "129adf3f753184e76733b9b70099e8949b6c32c2a70763c5f5fdbd5519e72267",
    "two_literals": "bce66c04c393ef085db23f5abda988a2d9e2824d4ee933e3ecd2ba8e669d7e4c",
    "literal_at_inline_limit": "3c56d0240378bb9d58010448926d051a112893b4ee5db10a6bb59792d2b9a3dd",
    "literal_past_inline_limit": "6f2a288f80eaa24da87d5dddabf4ccec3afb9a40e7a7b5ce024016e67fcf6474",
    "container_at_inline_limit": "6b0cd2115c3c6ce2b5f4e177a178c2b3e2a9478d471774cf4121ed0a5bb747f9",
    "container_past_inline_limit": "0914cf77d7627be6a8d54bfaaa4f9b5d94aefc9039740270d15870d00d479480",
    "literal_big": "db442ce7041afd4d7cce55845a9e23cea428077459d08b30e33ed810091dcb0f",
    "many_literals": "49e671b0995dbb63a66e5f69075a903506d958e1614cf20d23a34ac9d2a64d3a",
    "link": "173df6fe182abf37c96e0998bf2d0f0e2330050a750f268e4df6627f93f9eb10",
    "link_socket_1": "db18837fce9b1ea388f6fc235a6ed29be38a843e9dbe8eeb42a870f2809d8cd2",
    "link_socket_1024": "d0eda2ece6b3effa208394fc692ed240afa67e51b272d7b336c2183b587a69dd",
    "link_other_parent": "611eafa40b09f1b4b452a34cacbb5ae4107b98d1de28215054d0ff4f826e7312",
    "link_renamed": "fe5b23164392261bba878c8cbfcf489fa9fd3c666d43b952f4527d74eb4db940",
    "two_links": "c5ab1584b923a453d6a3c268789abb233b8650a5a947e38ea79165966d47519a",
    "literals_and_links": "ef83a20e8d12f2626fea1a56659705702722acb358ec6c9ebcea1f22b64efe46",
}


def _sign_all() -> dict[str, str]:
    return {
        name: Signer().sign_node(identity, literals, links).hex()
        for name, (identity, literals, links) in node_cases().items()
    }


def test_node_keys_match_pinned_digests() -> None:
    got = _sign_all()
    wrong = {name: hexd for name, hexd in got.items() if NODE_GOLDEN.get(name) != hexd}
    assert not wrong, (
        f"the node keys of {sorted(wrong)} changed (framing drift?); if the change is "
        f"intended, bump FORMAT_VERSION and repaste (see this module's docstring): {wrong}"
    )


def test_every_case_has_a_distinct_key() -> None:
    by_key: dict[str, list[str]] = {}
    for name, hexd in _sign_all().items():
        by_key.setdefault(hexd, []).append(name)
    shared = [names for names in by_key.values() if len(names) > 1]
    assert not shared, f"different nodes share a key: {shared}"


# The format, written out by hand rather than imported, so a change to any tag or
# to the framing fails here with the part named.
NODE_TAG = b"digestflow:node\x00"
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
