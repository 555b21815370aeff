"""Encoding: typed, injective across types, order independent, honest errors."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import itertools
import os
import pathlib
import pickle
import subprocess
import sys
import zoneinfo
from collections import OrderedDict
from pathlib import Path

import pytest

import keys
from keys import Key, UnhashableError, digest, encode

ROOT = Path(__file__).resolve().parents[2]


def test_k5_lookalikes_all_differ() -> None:
    values = [1, 1.0, True, "1", b"1", bytearray(b"1"), [1], (1,), {1}, frozenset({1}), {1: None}]
    assert len({encode(v) for v in values}) == len(values)
    assert encode(0.0) != encode(-0.0)
    assert encode(0) != encode(False) and encode(None) != encode(0)
    assert encode([]) != encode({}) != encode(()) and encode("") != encode(b"")


def test_nan_is_stable_and_keeps_its_bits() -> None:
    nan = float("nan")
    assert encode(nan) == encode(float("nan")) == encode(nan)
    assert encode(nan) != encode(-nan)  # sign bit kept, documented
    assert encode([nan]) == encode([float("nan")])


def test_encoding_is_framed_so_concatenation_cannot_collide() -> None:
    assert encode(["ab", "c"]) != encode(["a", "bc"])
    assert encode([[1], 2]) != encode([[1, 2]])
    assert encode((b"a", b"")) != encode((b"", b"a"))


def test_ints_of_any_size() -> None:
    values = [0, -1, 255, 256, -256, 2**63, -(2**63), 2**1000, -(2**1000)]
    assert len({encode(v) for v in values}) == len(values)


@pytest.mark.parametrize("seed", range(5))
def test_dict_and_set_independent_of_order(seed: int) -> None:
    items = [("a", 1), (2, "b"), ((1, 2), None), (2.5, [1]), (b"x", {"n": 1})]
    reference = digest(dict(items))
    for perm in itertools.islice(itertools.permutations(items), seed * 20, seed * 20 + 20):
        assert digest(dict(perm)) == reference
    elems = [1, "1", 1.5, (1,), b"1", None, frozenset({2})]
    set_ref = digest(set(elems))
    for perm in itertools.islice(itertools.permutations(elems), seed * 20, seed * 20 + 20):
        assert digest(set(perm)) == set_ref and digest(frozenset(perm)) == digest(frozenset(elems))


def test_dict_with_two_nan_keys_is_order_independent() -> None:
    a, b = float("nan"), float("nan")
    assert encode({a: 1, b: 2}) == encode({b: 2, a: 1})


def test_dict_with_two_nan_keys_still_keys_on_its_values() -> None:
    a, b = float("nan"), float("nan")  # distinct keys with one encoding: the tied-key path
    assert digest({a: 1, b: 2}) != digest({a: 1, b: 3})
    assert digest({a: 1, b: 2}) != digest({a: 1, b: 2.0})
    assert digest({a: 1, b: 2}) != digest({a: 2, b: 2})


def test_an_unencodable_set_element_is_named_in_the_path() -> None:
    class Opaque:
        def __repr__(self) -> str:
            return "Opaque()"

    with pytest.raises(UnhashableError) as info:
        digest({1, Opaque()})
    assert str(info.value).startswith("value{Opaque()} has type "), info.value


def test_an_unencodable_value_under_a_nan_key_names_its_path() -> None:
    with pytest.raises(UnhashableError) as info:
        digest({float("nan"): 1, float("nan"): object()})
    assert str(info.value).startswith("value[nan] has type builtins.object: "), info.value


def test_same_digests_in_fresh_interpreter_with_other_hash_seed() -> None:
    script = "import tests.keys.corpus as c; c.print_digests()"
    outputs = []
    for seed in ("1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        outputs.append(proc.stdout)
    from tests.keys import corpus

    here = {**corpus.builtin_corpus(), **corpus.numpy_corpus(), **corpus.arrow_corpus()}
    expected = "".join(f"{name} {digest(value).hex()}\n" for name, value in here.items())
    assert outputs[0] == outputs[1] == expected


def test_importing_keys_and_digesting_builtins_imports_no_heavy_modules() -> None:
    script = (
        "import sys, keys\n"
        "keys.digest([1, 2.0, 'x', {'a': None}, (b'y',), {3}])\n"
        "keys.Signer().sign_node('m.f@v=1', {'t': 0.7}, {})\n"
        "print(sorted(m for m in ('numpy', 'pyarrow', 'torch') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "[]"


def test_key_basics() -> None:
    key = digest("x")
    assert len(key.digest) == 32 and Key.fromhex(key.hex()) == key
    assert repr(key) == f"Key({key.hex()[:12]})"
    assert pickle.loads(pickle.dumps(key)) == key and hash(key) == hash(Key(key.digest))
    assert sorted([digest(2), digest(1)]) == sorted([digest(1), digest(2)])
    assert (digest(1) < digest(2)) != (digest(2) < digest(1))
    assert key != key.digest
    with pytest.raises(AttributeError):
        key.digest = b"0" * 32  # type: ignore[misc]
    with pytest.raises(ValueError):
        Key(b"short")


def test_digest_is_domain_tagged_blake3_of_encoding() -> None:
    from blake3 import blake3

    value = {"a": [1, 2.5]}
    assert digest(value).digest == blake3(b"digestflow:value\x00" + encode(value)).digest()


def test_stdlib_types() -> None:
    utc = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc)
    paris = utc.astimezone(zoneinfo.ZoneInfo("Europe/Paris"))
    assert utc == paris and digest(utc) != digest(paris)  # same instant, other zone
    assert digest(utc) != digest(utc.replace(tzinfo=None))
    assert digest(dt.date(2024, 1, 1)) != digest(dt.datetime(2024, 1, 1))
    assert digest(decimal.Decimal("1.0")) != digest(decimal.Decimal("1.00"))
    assert digest(pathlib.Path("a/b")) == digest(pathlib.PurePosixPath("a/b"))
    assert digest(pathlib.PurePosixPath("a/b")) != digest(pathlib.PureWindowsPath("a/b"))
    assert digest(pathlib.Path("a")) != digest("a")
    assert digest(range(3)) != digest([0, 1, 2])


def test_subclasses_mix_in_their_name() -> None:
    class Name(str):
        pass

    assert digest(Name("x")) != digest("x")
    assert digest(OrderedDict(a=1)) != digest({"a": 1})
    assert digest(OrderedDict(a=1, b=2)) == digest(OrderedDict(b=2, a=1))


def test_dataclass_and_digest_protocol_include_type_name() -> None:
    @dataclasses.dataclass
    class A:
        x: int

    @dataclasses.dataclass
    class B:
        x: int

    class C:
        def __digest__(self) -> object:
            return (1,)

    assert digest(A(1)) != digest(B(1)) and digest(A(1)) == digest(A(1))
    assert digest(A(1)) != digest(A(2))
    assert digest(C()) != digest((1,))


def test_register_encoder_returns_an_encodable_value() -> None:
    class Celsius:
        def __init__(self, degrees: float) -> None:
            self.degrees = degrees

    with pytest.raises(UnhashableError):
        digest(Celsius(1.0))

    @keys.register(Celsius)
    def _enc(c: Celsius) -> float:
        return c.degrees

    assert digest(Celsius(1.0)) == digest(Celsius(1.0)) != digest(1.0)
    assert digest(Celsius(1.0)) != digest(Celsius(2.0))


def test_unhashable_error_names_path_type_and_both_fixes() -> None:
    class Foo:
        pass

    @dataclasses.dataclass
    class Model:
        weights: object

    config = {"model": Model(weights=Foo()), "lr": 0.1}
    with pytest.raises(UnhashableError) as info:
        digest(config)
    message = str(info.value)
    assert "value['model'].weights has type" in message
    assert "Foo: register an encoder with keys.register(Foo)" in message
    assert "give Foo a __digest__() method" in message
    assert isinstance(info.value, TypeError) and info.value.path == "value['model'].weights"


@pytest.mark.parametrize(
    ("value", "path"),
    [
        ([1, object()], "value[1]"),
        ({(1, object()): 2}, "value<key (1, <object"),
        ({object()}, "value{"),
    ],
)
def test_unhashable_paths_inside_keys_and_sets(value: object, path: str) -> None:
    with pytest.raises(UnhashableError, match=r"has type builtins\.object") as info:
        encode(value)
    assert str(info.value).startswith(path)


def test_no_fallback_for_functions_or_modules() -> None:
    for value in (lambda: 1, os, object(), iter([1])):
        with pytest.raises(UnhashableError):
            digest(value)


def test_self_referential_containers_fail_clearly() -> None:
    loop: list[object] = [1]
    loop.append(loop)
    with pytest.raises(UnhashableError, match=r"value\[1\] is self-referential"):
        digest(loop)
    d: dict[str, object] = {}
    d["me"] = [d]
    with pytest.raises(UnhashableError, match="self-referential"):
        encode(d)

    class Selfish:
        def __digest__(self) -> object:
            return self

    with pytest.raises(UnhashableError, match="self-referential"):
        digest(Selfish())


def test_shared_but_acyclic_references_are_fine() -> None:
    inner = [1, 2]
    assert encode([inner, inner]) == encode([[1, 2], [1, 2]])


def test_too_deep_nesting_fails_clearly() -> None:
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(UnhashableError, match="nested too deeply"):
        digest(deep)


def test_memoryview_hashes_like_its_contiguous_bytes_shape_aware() -> None:
    data = memoryview(bytes(range(12)))
    assert encode(data[::2]) == encode(memoryview(bytes(range(0, 12, 2))))
    assert encode(data.cast("B", (3, 4))) != encode(data)


def test_file_digest_streams_contents(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    payload = os.urandom(3 << 20)
    path.write_bytes(payload)
    assert keys.file_digest(path) == digest(payload)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert keys.file_digest(empty) == digest(b"")
    assert keys.file_digest(path) != digest(path)  # a path literal is its name, not contents


def test_user_registration_wins_over_a_later_lazy_install() -> None:
    script = (
        "import keys, numpy as np\n"
        "keys.register(np.ndarray)(lambda a: 'custom')\n"
        "print(keys.digest(np.zeros(3)) == keys.digest(np.ones(3)))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert proc.stdout.strip() == "True"
