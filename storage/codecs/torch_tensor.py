"""torch tensors as ``.npy`` files (torch is imported only when a tensor is seen).

Tensors are detached and copied to host memory (CUDA included) and made
contiguous; dtypes numpy lacks (bfloat16, float8 variants, ...) are stored as
same-width signed integers holding the exact bits, with the torch dtype in the
manifest summary. On read the file is mapped copy-on-write, so the tensor is
zero-copy, writable (in-place ops touch private pages, never the file) and
``torch.from_numpy`` has no reason to warn. ``device=`` moves it afterwards
(``AS_STORED``: back onto CUDA if it was stored from CUDA and CUDA is here):
onto a CUDA device, a large tensor goes through two pinned staging buffers, so
the copy out of the mapped file overlaps the DMA to the GPU (a plain ``.to()``
from pageable memory is synchronous and slower; numbers in docs/benchmarks.md).
"""

from __future__ import annotations

from typing import Any, BinaryIO

from storage.codecs.base import AS_STORED, CodecContext
from storage.codecs.npy import read_npy, write_npy
from storage.errors import NotDecodableHere

_BITS = {1: "int8", 2: "int16", 4: "int32", 8: "int64"}
STAGE_BYTES = 64 * 2**20  # per pinned staging buffer; smaller tensors take a plain .to()


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
        device = _stored_device(summary) if ctx.device == AS_STORED else ctx.device
        if device is not None:
            try:
                tensor = to_device(tensor, device)
            except (RuntimeError, AssertionError) as err:  # no such device here
                raise NotDecodableHere(f"cannot move it to {device!r}: {err}") from err
        return tensor


def _stored_device(summary: dict[str, Any]) -> str | None:
    """"cuda" (this process's current CUDA device) for a tensor stored from CUDA when
    this process can use CUDA; None (the host) otherwise."""
    import torch

    stored = str(summary.get("device", "cpu"))
    return "cuda" if stored.startswith("cuda") and torch.cuda.is_available() else None


def to_device(tensor: Any, device: Any) -> Any:
    """``tensor`` (on the host, contiguous) on ``device``; staged through pinned memory
    onto CUDA when it is at least two staging buffers large."""
    import torch

    target = torch.device(device)
    nbytes = tensor.numel() * tensor.element_size()
    if target.type != "cuda" or nbytes < 2 * STAGE_BYTES or not tensor.is_contiguous():
        return tensor.to(target)
    out = torch.empty(tensor.shape, dtype=tensor.dtype, device=target)
    _staged_copy(tensor.reshape(-1).view(torch.uint8), out.view(-1).view(torch.uint8))
    return out


def _staged_copy(src: Any, dst: Any) -> None:
    """Copy host bytes ``src`` into CUDA bytes ``dst`` in chunks, alternating two pinned
    buffers: while one chunk's DMA runs, the next is copied into the other buffer."""
    import torch

    stream = torch.cuda.current_stream(dst.device)
    buffers = [torch.empty(STAGE_BYTES, dtype=torch.uint8, pin_memory=True) for _ in range(2)]
    done: list[Any] = [None, None]
    for i, start in enumerate(range(0, src.numel(), STAGE_BYTES)):
        slot = i % 2
        if done[slot] is not None:
            done[slot].synchronize()  # that buffer's previous DMA has finished
        n = min(STAGE_BYTES, src.numel() - start)
        buffers[slot][:n].copy_(src[start : start + n])
        dst[start : start + n].copy_(buffers[slot][:n], non_blocking=True)
        done[slot] = torch.cuda.Event()
        done[slot].record(stream)
    stream.synchronize()  # the tensor is whole when the read returns
