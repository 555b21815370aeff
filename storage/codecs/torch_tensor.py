"""torch tensors as ``.npy`` files (torch is imported only when a tensor is seen).

Tensors are detached and copied to host memory (CUDA included) and made
contiguous; dtypes numpy lacks (bfloat16, float8 variants, ...) are stored as
same-width signed integers holding the exact bits, with the torch dtype in the
manifest summary. On read the file is mapped copy-on-write, so the tensor is
zero-copy, writable (in-place ops touch private pages, never the file) and
``torch.from_numpy`` has no reason to warn. ``device=`` moves it afterwards.
"""

from __future__ import annotations

from typing import Any, BinaryIO

from storage.codecs.base import CodecContext
from storage.codecs.npy import read_npy, write_npy

_BITS = {1: "int8", 2: "int16", 4: "int32", 8: "int64"}


def _to_numpy(tensor: Any) -> tuple[Any, bool]:
    """A numpy view of a host tensor's bits; True when the dtype was bit-cast."""
    import torch

    try:
        return tensor.numpy(), False
    except TypeError:
        bits = getattr(torch, _BITS[tensor.element_size()])
        return tensor.view(bits).numpy(), True


class TorchCodec:
    """``torch.Tensor`` (any device, any dtype with a fixed width) as ``.npy``."""

    name = "torch"
    ext = "npy"
    writable = True

    def accepts(self, value: Any) -> bool:
        import torch

        return isinstance(value, torch.Tensor) and not value.is_sparse and not value.is_quantized

    def encode(self, value: Any, sink: BinaryIO, ctx: CodecContext) -> dict[str, Any]:
        host = value.detach().to("cpu").contiguous()
        if host.is_conj():
            host = host.resolve_conj()
        if host.is_neg():
            host = host.resolve_neg()
        array, bitcast = _to_numpy(host)
        write_npy(array, sink)
        return {
            "type": "torch.Tensor",
            "dtype": str(value.dtype).removeprefix("torch."),
            "shape": list(value.shape),
            "device": str(value.device),
            "bitcast": bitcast,
        }

    def decode(self, buf: Any, summary: dict[str, Any], ctx: CodecContext) -> Any:
        import torch

        array = read_npy(buf, writable=not memoryview(buf).readonly)
        tensor = torch.from_numpy(array) if array.flags.writeable else torch.tensor(array)
        if summary.get("bitcast"):
            tensor = tensor.view(getattr(torch, summary["dtype"]))
        if ctx.device is not None:
            tensor = tensor.to(ctx.device)
        return tensor
