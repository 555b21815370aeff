"""Codecs and the default registry: Arrow, pandas, numpy, torch, plain, pickle."""

from __future__ import annotations

from storage.codecs.arrow import ArrowCodec, PandasCodec
from storage.codecs.base import Codec, CodecContext, CodecDeclined, HashingWriter, content_digest
from storage.codecs.npy import NumpyCodec
from storage.codecs.pickled import PickleCodec
from storage.codecs.plain import PlainCodec
from storage.codecs.registry import CodecRegistry
from storage.codecs.torch_tensor import TorchCodec


def _install_pyarrow(reg: CodecRegistry) -> None:
    import pyarrow as pa

    reg.register(pa.Table, "arrow")
    reg.register(pa.RecordBatch, "arrow")


def _install_numpy(reg: CodecRegistry) -> None:
    import numpy as np

    reg.register(np.ndarray, "numpy")


def _install_pandas(reg: CodecRegistry) -> None:
    import pandas as pd

    reg.register(pd.DataFrame, "pandas")


def _install_torch(reg: CodecRegistry) -> None:
    import torch

    reg.register(torch.Tensor, "torch")


def default_registry() -> CodecRegistry:
    """A registry with every built-in codec; types are registered on first sight."""
    reg = CodecRegistry()
    for codec in (ArrowCodec(), PandasCodec(), NumpyCodec(), TorchCodec()):
        reg.add(codec)
    reg.add(PlainCodec(), fallback=True)
    reg.add(PickleCodec(), fallback=True)
    reg.register_lazy("pyarrow", _install_pyarrow)
    reg.register_lazy("numpy", _install_numpy)
    reg.register_lazy("pandas", _install_pandas)
    reg.register_lazy("torch", _install_torch)
    return reg


__all__ = [
    "Codec",
    "CodecContext",
    "CodecDeclined",
    "CodecRegistry",
    "HashingWriter",
    "content_digest",
    "default_registry",
]
