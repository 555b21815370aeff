"""numpy / pyarrow / torch encoders: layout-independent, typed, streamed."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from keys import UnhashableError, digest, encode


def test_non_contiguous_arrays_hash_like_their_contiguous_copy() -> None:
    base = np.arange(4 * 6 * 5, dtype=np.float64).reshape(4, 6, 5)
    views = [base.T, base[:, ::2], base[::-1], base[1:3, 2:, ::3], np.asfortranarray(base)]
    for view in views:
        assert not view.flags.c_contiguous or view is views[-1]
        assert digest(view) == digest(np.ascontiguousarray(view))


def test_chunked_copy_of_big_strided_array(monkeypatch: pytest.MonkeyPatch) -> None:
    from keys import _numpy

    monkeypatch.setattr(_numpy, "CHUNK_BYTES", 64)  # force many blocks and row recursion
    base = np.random.default_rng(0).random((7, 50, 3))
    for view in (base[:, ::3], base.transpose(1, 0, 2), base[..., 1]):
        assert digest(view) == digest(view.copy())


def test_array_dtype_shape_and_byte_order_matter() -> None:
    a = np.arange(6, dtype="<i4")
    assert digest(a) != digest(a.astype("<i8"))
    assert digest(a) != digest(a.reshape(2, 3))
    assert digest(a) != digest(a.astype(">i4"))
    assert digest(np.zeros((0, 3))) != digest(np.zeros((3, 0)))
    assert digest(np.float64(1.0)) != digest(1.0) != digest(np.array(1.0))
    assert digest(np.int64(1)) == digest(np.longlong(1))  # platform alias, same dtype


def test_object_and_string_arrays_encode_element_wise() -> None:
    a = np.array([1, "x", None], dtype=object)
    assert digest(a) == digest(np.array([1, "x", None], dtype=object))
    assert digest(a) != digest(np.array([1, "y", None], dtype=object))
    with pytest.raises(UnhashableError, match=r"value\[1\] has type builtins\.object"):
        digest(np.array([1, object()], dtype=object))
    s = np.array(["a", "bb"], dtype=np.dtypes.StringDType())
    assert digest(s) == digest(np.array(["a", "bb"], dtype=np.dtypes.StringDType()))


def test_masked_array_mask_matters() -> None:
    data = np.arange(3.0)
    assert digest(np.ma.array(data, mask=[0, 1, 0])) != digest(np.ma.array(data, mask=[0, 0, 0]))


def test_arrow_independent_of_chunking_and_offsets() -> None:
    table = pa.table({"x": list(range(10)) + [None], "s": [str(i) * (i % 3) for i in range(11)]})
    rechunked = pa.concat_tables([table.slice(0, 4), table.slice(4, 3), table.slice(7)])
    assert rechunked.column("x").num_chunks == 3
    assert digest(rechunked) == digest(table)
    sliced = table.slice(3, 5)
    copy = pa.table(sliced.to_pydict(), schema=table.schema)
    assert digest(sliced) == digest(copy)
    arr = pa.array([1, None, 3, 4, None])
    assert digest(arr.slice(1, 3)) == digest(pa.array([None, 3, 4]))
    chunked = pa.chunked_array([[1, 2], [], [3]])
    assert digest(chunked) == digest(pa.chunked_array([[1, 2, 3]]))
    assert digest(chunked) != digest(pa.array([1, 2, 3]))  # distinct container types
    assert digest(table.slice(0, 0)) == digest(rechunked.slice(0, 0))


def test_arrow_schema_and_values_matter() -> None:
    a = pa.table({"x": [1, 2]})
    assert digest(a) != digest(pa.table({"y": [1, 2]}))
    assert digest(a) != digest(pa.table({"x": pa.array([1, 2], pa.int32())}))
    assert digest(a) != digest(pa.table({"x": [1, 3]}))
    assert digest(a) != digest(a.to_batches()[0])


def test_big_array_streams_without_copy_to_bytes() -> None:
    big = np.ones(3 << 20, dtype=np.float32)  # 12 MiB
    pieces: list[int] = []
    from keys.encoder import Encoder

    Encoder(lambda b: pieces.append(len(b))).encode(big)
    assert max(pieces) == big.nbytes  # handed over as one view, not rebuilt
    assert digest(big) == digest(big.copy())


def test_torch_tensors() -> None:
    torch = pytest.importorskip("torch")
    x = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    assert digest(x.T) == digest(x.T.contiguous())
    assert digest(x[:, ::2]) == digest(x[:, ::2].clone())
    assert digest(x) != digest(x.to(torch.float64)) != digest(x.reshape(4, 3))
    bf = torch.tensor([1.0, 2.0], dtype=torch.bfloat16)
    assert digest(bf) != digest(bf.to(torch.float16))
    assert digest(bf) == digest(torch.tensor([1.0, 2.0], dtype=torch.bfloat16))
    assert digest(x.requires_grad_()) == digest(x.detach())
    assert digest(torch.tensor(3.0)) != digest(torch.tensor([3.0]))
    assert digest(torch.float32) != digest(torch.float64)
    with pytest.raises(UnhashableError, match="sparse"):
        digest(x.detach().to_sparse())
    assert encode(torch.zeros(0)) != encode(torch.zeros(0, 1))
