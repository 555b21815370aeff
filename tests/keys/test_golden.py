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
    "int_0": "d112faee837691b4182b164c8bb2e1af98d1dd4f9bb312e39ce9f709dd7c8063",
    "int_64": "8e7e7e5ea154a33415f23401515fde163cacba069caab36327d014af5a1ae790",
    "int_100": "b21db97e62bcb2c80b864f0e10e412f4233c798493ac74933b8c32b1bd770fee",
    "int_-65": "15325eac37e3c65733ac00cbbcfeb89ee978a49827e11293cf58ddd4a0af99bd",
    "int_2**7-1": "7f1bc468ec42e98363be9988d5f5a8c76efcefdc190f5909c6fb9d0823c763eb",
    "int_2**7": "bf5b86e8db57c310485b3c2e5ce584afb40ca3ff041ad93d20275b793cc04121",
    "int_-2**7": "7e27ba6cec2214c1c349d20d005e09077f309debcc10ce145860519d8a9dbbc6",
    "int_-2**7-1": "bcf288e343272f39b9f1736420654afd8d0daf001d8a357dbec8f96f670aa62c",
    "int_2**15-1": "a8f66f64f0bfc4bcbeca3f16b693bbf6f6061310b1eb58afb26121fd21018ee4",
    "int_2**15": "353a1d69abfdba5e3ded396c7f0d1c0066d851f097347d554fc181c82686f776",
    "int_-2**15": "8791cc9baf6036d5be1b2136612c0202ef2b36d8740367fcd0c9c39d1978ab8d",
    "int_-2**15-1": "b594e44aaf79a084490a5aedbc75e04bcf2cb73c8008234c5a08cd35702cefe7",
    "int_2**23-1": "01ae5afc64358e0bc688f8ca2163b401bdf2f2decb90614201bdd377c7e31b20",
    "int_2**23": "7971dbc807c000180b7d16261eba9a24ee21237f42570ce6d236f566f94c7c95",
    "int_-2**23": "b337597a8875ea12214ed439419227d011a3cc884058ade07db2efac3916ed1c",
    "int_-2**23-1": "9615632d25fc21fe25c92489f643d2707f6533eeeb4d3dd40b77b555d2e75c3a",
    "int_2**31-1": "822f6b8390d73a36fc07373db458d5cf60d312dd168e7337df06414e4e87891d",
    "int_2**31": "59de37f3f865649e8ef00185e1eb747ec9087184b07ecb5b0e30d995a4598a81",
    "int_-2**31": "eaab9d2a6372e66261f94e59238c7a349e6293ea4ccc5be5c8b6bb6a96d7f6ee",
    "int_-2**31-1": "61b872610ea8c89670f079183cc13bd99e7032bb4b40788ca855e0c25ec0dd07",
    "int_2**39-1": "c3537bb7949cb2911ada618df8699ac09835ce29deb895e51bca213629dda009",
    "int_2**39": "9d9d70df698a65bd03e537b6892d5ebfddfb729581318039bd07760ecbd6dace",
    "int_-2**39": "d6d1a879031c71ee4e6280184fdcfb74aaeb5450d5f0a147009bba2fbf698099",
    "int_-2**39-1": "f04a0862c4c2af646e3551999a847803262203236349a169e4ce6d3072a49b74",
    "int_2**47-1": "aa86cfed3f4dfe030851219b5e0757e07be90456a92d796ddd41e1b557837902",
    "int_2**47": "9b5a3e8e9d29de342cfe4228cf018f1f12b7b6b17b0ed3dc8a7763581c7ac903",
    "int_-2**47": "6ef5fcda95f87cd6cffbbf8fcbf65b739a4e3c21d00be9bb7b103eca415f20cf",
    "int_-2**47-1": "160cd41fa77147cfdf16ca80bc317c24b38af35b67b4eb47f9d20ab0a0e8e17a",
    "int_2**55-1": "59322400ac6bd070bd31fae516e35ea5f15e9774bb35b13e80312028564793a2",
    "int_2**55": "1b65b3d062bce38a6865f63a146a65b7d03fbc4e2739c0a4c72df260018e5604",
    "int_-2**55": "f5ad6633ef23ce7e550e996fd417dcceb3b8dad4ea119195a08ab1846134787f",
    "int_-2**55-1": "e54b7e2faf9fe54bf79c12bd7fd877bd64833e9a598273687a932fe61b27cbb2",
    "int_2**63-1": "5dbcbc4129453cad499aa782113278088900359872a5acc3f728dcb0e2bb42cd",
    "int_2**63": "a42648dede2460461467ab49ab40dd87852681374330d41d6103c7ff8c8107b2",
    "int_-2**63": "f2eec8480ebbf76c06d35d810c4f63509cf5aa2826b737ba3b29c810064f6da4",
    "int_-2**63-1": "cc76a654053728e4eef69ebe48631ce984022aedb0b674761a64e92d9ec32474",
    "int_2**71-1": "4e307e265ce20899c612c51210027718a5fa8bd5cd40526f4f31bba346dff359",
    "int_2**71": "9dc0272b09e6254291284b1afdfe4c286b0775c16ac5b0c32c306e26d6b1bc5e",
    "int_-2**71": "59fb1f0d507e55402dbc627497088d5d275b310e82c45f46f08f5f8ea4d49960",
    "int_-2**71-1": "2435c79b7cacaf1602bcb85f7cee686368893a5d9791a40ee5b1f46406465f57",
    "str_lone_high": "dbe0f91c9ddea530108aad285a6fb2ab98af66333acd71f515753cb85b524f62",
    "str_lone_low": "2fc4694575b09b9aa20382f6f575568d75ef76cb83d4ec4f02b5fcc4f7e8ef7e",
    "str_surrogate_pair": "edafece9d848015d2ae58d76acdee189fbbd89f3f9b158096631d9f32efbc584",
    "memoryview_c": "9d7bf81f26baca991d608f27e84667f8825552e9dcea23c0220139586ee923ac",
    "memoryview_b": "1d80aa84c1598e9312f3735d49377efb3297d190ba7f97f5566b5c022ea6af5d",
    "memoryview_B": "9625bf1b37a04ed6737a703c9f37f74a6772de91ffa60a2a054832b0b070d655",
    "memoryview_?": "05c3599884768eb20cd62322a037996e6813dd201126d0edb5e91caca97774df",
    "memoryview_h": "8cc624cfe27906b58813fb797a61a96d2793a835fd9a17a7343a8946d1b8915b",
    "memoryview_H": "7cae23264e32fcc34ff7255ce5dae85881cbab059eab1872a59ebd65490ea052",
    "memoryview_i": "b8efae1d47cbc47b123db520a812fa1624837ade833dfd39b271fb8e442245f4",
    "memoryview_I": "deee5e550cb2e4f2894e451d42de0e771213cb64a4e0b2947c85a5f8aaecdca9",
    "memoryview_l": "f0321f25ca44b53d8aed26260e337cc6f0402eef1230976cc165b42d684cf78f",
    "memoryview_L": "43368598da4d623348b75d4839ec5a55ab6a591e3e04a1b6d723d5f90cea4622",
    "memoryview_q": "e40c512de7cec5fda525186bba502912a739544c0a3f2a541c9cedf056e00830",
    "memoryview_Q": "3d3a7f02b6f20d1db843b780738871aba1c21cb236d7546c6cb4b12c062aba3a",
    "memoryview_n": "15fb901ec83a290a69c8c2ae1c01ee4bf04dc2f8d448221c71fc083757632087",
    "memoryview_N": "b0bf6a42028a062facaf250079d9457b8a25cada2c883af0dbaa38b3dc40f742",
    "memoryview_f": "d30e4d43f762a8fc981d99150ab63ec4d74fb377a0eca22422327a5aefedc41c",
    "memoryview_d": "58a0bb32b600feb1a3e1fc287d92506c3c88ec1c924b455fde76f1b7de2f9c99",
    "memoryview_P": "774d15a6c37d47c899eb3c94314f6581c7fdf367caf4a78a2e12dcbe9bff461d",
    "memoryview_2d": "f50015b504a5a4c68cdf71a3c083bdf3ed76b5f1bc6827e521d4860a9945d6dd",
    "memoryview_2d_h": "44babc0b6c81e0ec13c0fd520316a4f56a507d98bedeff243348df28109e2613",
    "memoryview_strided": "7184a4b01f4d1e869142f23a11e5a3205c1f635d6d415ba541d221127eebe743",
    "memoryview_>i": "20cb19144984c6b573a81155255a9cc3cc4dbd8469fccedc45b786626c32fb7c",
    "memoryview_e": "7f0150a19f982c0c152637338bef2594854d6357120b9d09090f4c83278b57a5",
    "memoryview_Zf": "1f7bc87a985e12aae212ed4a1fb00e2a4643e4faaca432ca6761542031e401c1",
    "memoryview_struct": "57b7c9a1d5dba2ffa813cdccf13226c77bb90d3935a9b72d02c33f65edc283f1",
    "torch_f32": "c7394fa7fbca3b6560936b4d911f020c0ab700ad36e2960ea174b43960195d0c",
    "torch_bf16": "557aed1733646bfc8bc70de8d2d7dc1bcf7336ec78e20efa58c705dbe13b291f",
    "torch_bool": "566364d3793666ad19a9416e451d3132768e24ec5cfd48e8c223b022fdc8023d",
}


def _check(values: dict[str, object]) -> None:
    got = {name: keys.digest(value).hex() for name, value in values.items()}
    wrong = {name: hexd for name, hexd in got.items() if GOLDEN[name] != hexd}
    assert not wrong, (
        f"the digests of {sorted(wrong)} changed (encoding drift?); if the change is "
        f"intended, bump FORMAT_VERSION and repaste (see this module's docstring): {wrong}"
    )


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
    """Computed, not only pinned: a repasted table cannot hide two values sharing a key."""
    values = {**corpus.builtin_corpus(), **corpus.numpy_corpus(), **corpus.arrow_corpus()}
    by_digest: dict[str, list[str]] = {}
    for name, value in values.items():
        by_digest.setdefault(keys.digest(value).hex(), []).append(name)
    shared = [names for names in by_digest.values() if len(names) > 1]
    assert not shared, f"distinct values share a digest: {shared}"
    assert len(set(GOLDEN.values())) == len(GOLDEN)


def test_pinned_encoding_bytes() -> None:
    """The framing itself, spelled out for a few values."""
    assert keys.encode(None) == b"dfk\x01N"
    assert keys.encode(True) == b"dfk\x01T"
    assert keys.encode(1) == b"dfk\x01i" + (1).to_bytes(8, "little") + b"\x01"
    assert keys.encode("ab") == b"dfk\x01s" + (2).to_bytes(8, "little") + b"ab"
    assert keys.encode([None]) == b"dfk\x01l" + (1).to_bytes(8, "little") + b"N"
    assert keys.digest(None) == keys.Key.fromhex(GOLDEN["none"])

