"""Golden digests: any change to the encoding (or a dependency's bytes) fails here.

If a change is intended, bump ``keys._format.FORMAT_VERSION`` and repaste:
``python -c "import tests.keys.corpus as c; c.print_digests()" --torch``.
"""

from __future__ import annotations

import pytest

import keys
from tests.keys import corpus

GOLDEN = {
    "none": "a2e2646a38537b9464f139abfea7eaac92293d7374eda96c92d84f0dedd1feb9",
    "true": "d1ed384f36a2839a55bfd793442065036d771e6abad48436cbd704b1bdc9dece",
    "false": "212eaeaebf9b854e79d1804eb7afa7a0036dec7268076bffd6cf3f70feea4c73",
    "int": "1dcdaf93495b75adf92d0531d71b35e1a4d52401f95e008b50a8566f7b397a3b",
    "int_neg": "d8a52c84d47baf0c7841e5780c027819ddc130e4d378d86fee7d5a4a52db8da1",
    "int_big": "73c44dab57fb06e86783d4550e54c6d590a48810f57f4a6c09d60ce1f0391a76",
    "float": "f7d8623880a6c12cc63ef45a984cd4fd6d5d120325deb3608b8ec79bea05ae1d",
    "float_neg_zero": "d6e35df464f3ea22ecb9f1ae45529d65977a9f525c7c1c98399017cbfdb2341f",
    "float_nan": "9301d59ca5233d72a5980b92a5668a81b5e929c7ca475385b8309355e68c5e4d",
    "float_inf": "dc3cf1c58c62b9cbdb79b590cf68c89450ec5b6f2807cf71cc09ee0326ed9849",
    "complex": "d0f0b2eae7201376d276abd286415e6d2ce95de244364b7690b35bdfff18c5e7",
    "str": "dbb1f2e59e55ff0c5624e04552aded2b218482ac026cd372c42b6bb3f354efaa",
    "str_unicode": "fc401e09836ab5b55ee9c66e5f7f20a1be492ca1ec69a3f7fdfed41a289acd2e",
    "bytes": "816684951e52c88f52198768d8e386c40b48212c10ac0a6c6f35ee4cf54c5c22",
    "bytearray": "910b6d16a500a87a912ad1906bf0959592b63142070430b6446a752bb8ba86dc",
    "memoryview": "85b12161c175780fea04879b208523b1c06aebde3bc8cc7d5d7dbde6db7cb315",
    "tuple": "b9d287ab82f807a024b6ca980b095f120e4cbaf94a2260a519432b1f9254fcf8",
    "list": "9df4601ce818ed6c2026b920c45537842cfabe91f8eb6f6b7c44d313f14a72a6",
    "nested": "f73db7befa523cd5a2d0f4074755b843039a079cfb86ebad9b8424f1b607d325",
    "dict": "efe4f3668df2edd13b2cbe5799b963fe630654a1fe8c4169b3cc8adcd2943e65",
    "set": "46afaa355275767fa9a1213b81eb58624462e934be36e656d6b7361eb1cca666",
    "frozenset": "5d6e8d8c6b5be8186e512e3c48e2eaa367aa463d492e118bca8cebfc9196dd75",
    "range": "f38d4e9bd470d4856df1e1f5deb204720b9a99afe19690f3f5aa5e8024a2fde4",
    "dataclass": "eb5866da74e90c9b72ecd7d42e4df45c96ce2801f5dc434d495af340fe0122f5",
    "namedtuple": "3a03d3fd44f65bb53a9bee93f48a033c661a7d849c9e540822180479a649b7c4",
    "enum": "012d00fefcf844de12ec69af8e4e86966b17b0c98bb49e256320838a6e047744",
    "protocol": "44c64a4f7552491dc74a330e6c62ba48ab16c9571d7b36821c7336e7b72d23bd",
    "datetime_naive": "f5373fab2b1857509e6f88f13cea8a3135fe2a48ac062bbffb6e7f00fd2c269d",
    "datetime_utc": "04e81b4af0e739cd8bf830b2a3f273ae52a057d36c48185464860431b3c304e4",
    "datetime_offset": "05829b9a6e9434bff2a4b4cc020b8c094dbc30c206399b31b2f34e38841d354d",
    "date": "5d1f81cbcdaf209b9dd39f0a9d5eb0ee42c59043e5bbca72e1ad4edb078b8356",
    "time": "4557de1618f076c8d54129ecf53b40c994f1a439014af280eae33fc2cdc11d05",
    "timedelta": "c3c28c6711590b0e1c9dcae3ebe63d1ad85161a0f03e4fc274591d8ad8143afc",
    "decimal": "245595bc27ca8e153bfececf1d9802a843c29a02910c14b15b5b7ac7c5197950",
    "uuid": "dbf54f863837abe4e8a6b8ff25aec85ee49288994d7a8bc559f795b67faf101f",
    "path": "a5b4241461176b7fe75c2dbb8392664a554af8c10d9d5f025ab31afef62d904b",
    "windows_path": "cd94d64c6aca83467dd8f60d3f2361ffba7606ca4d431c5d627166684b1b5836",
    "key": "5987e7ef8e007ea2a40332431a65c01e6d6e43f202c413930d52c1006bee10b2",
    "np_f32": "2a1098eb942952d8b88adce3c99bf204da3f73ab5c85de429ffcd1a65a765a89",
    "np_f64_be": "d429e89900366ec82f6f5f6d586602d1e5fd19b2cd1edf06b586a23771544934",
    "np_transposed": "5f0d77640bd209d30f86497f2b17d77c6c6e4c36555dfe735e0904bafa24d880",
    "np_datetime": "d354e5ef75e907362135aad249c1f2ddf4a2696275aa63a85779acd8be63de68",
    "np_structured": "eef1eb89b1a600008e66d19873d6c5fbcf69f3b7adafb798543f0d7e55f08943",
    "np_object": "7b499728aeef67cede51091102545ffbc15d2391a3e889f154b2a37cfe44ac53",
    "np_scalar_f64": "3e18aac6fb349d61d9a70ac426daf36251967d1fdb1ec1faa562bdc14117a7bb",
    "np_scalar_i8": "d8732cb33f991fe56f8aee6e33d758e9fee6b38cebdd8eac1ab0bef573180f8f",
    "np_dtype": "ca8dafef46580f40cfe745ac3b92467669668731b171a9d131935d6a735dae0f",
    "pa_array": "4d32bdec8d03d1d28bf9089a69a413cb8fa81f54d1f7871f6abd29f1cb8de34f",
    "pa_chunked": "66cdf5fe868c2ad6611d43d460327b9fd7e0c479ae34aafef8ab1f5bc8ca50b1",
    "pa_batch": "9e9e1602c4fc59a939d86912e3e969f0ff96582898ffa950ebb2638d148919e7",
    "pa_table": "f947faf13e7c9ac85dc51c2dc785ed6f13fa8e9d0b019b95c93f13935a3ef3c6",
    "torch_f32": "c7394fa7fbca3b6560936b4d911f020c0ab700ad36e2960ea174b43960195d0c",
    "torch_bf16": "557aed1733646bfc8bc70de8d2d7dc1bcf7336ec78e20efa58c705dbe13b291f",
    "torch_bool": "566364d3793666ad19a9416e451d3132768e24ec5cfd48e8c223b022fdc8023d",
}


def _check(values: dict[str, object]) -> None:
    got = {name: keys.digest(value).hex() for name, value in values.items()}
    wrong = {name: hexd for name, hexd in got.items() if GOLDEN[name] != hexd}
    assert not wrong, f"digests changed (encoding drift?): {wrong}"


def test_builtin_values_match_pinned_digests() -> None:
    _check(corpus.builtin_corpus())


def test_numpy_values_match_pinned_digests() -> None:
    _check(corpus.numpy_corpus())


def test_arrow_values_match_pinned_digests() -> None:
    _check(corpus.arrow_corpus())


def test_torch_values_match_pinned_digests() -> None:
    pytest.importorskip("torch")
    _check(corpus.torch_corpus())


def test_every_corpus_value_has_a_distinct_digest() -> None:
    assert len(set(GOLDEN.values())) == len(GOLDEN)


def test_pinned_encoding_bytes() -> None:
    """The framing itself, spelled out for a few values."""
    assert keys.encode(None) == b"dfk\x01N"
    assert keys.encode(True) == b"dfk\x01T"
    assert keys.encode(1) == b"dfk\x01i" + (1).to_bytes(8, "little") + b"\x01"
    assert keys.encode("ab") == b"dfk\x01s" + (2).to_bytes(8, "little") + b"ab"
    assert keys.encode([None]) == b"dfk\x01l" + (1).to_bytes(8, "little") + b"N"
    assert keys.digest(None) == keys.Key.fromhex(GOLDEN["none"])
