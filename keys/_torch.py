"""torch encoders, installed lazily the first time a torch value is seen.

A tensor encodes as its dtype name, shape and raw bytes in C order, taken
from a host, contiguous, conj/neg-resolved copy viewed as uint8 (so bfloat16
and float8 need no numpy dtype). The device is not part of the key: the same
values on CPU and CUDA are the same input. Sparse, quantized and meta
tensors are refused rather than guessed at.
"""

from __future__ import annotations

from typing import Any

import torch

from keys import _format as F
from keys._unencodable import Unencodable
from keys.registry import register_writer
from keys.structs import type_prefix


@register_writer(torch.Tensor)
def _write_tensor(enc: Any, t: torch.Tensor) -> None:
    if t.layout != torch.strided or t.is_quantized or t.is_meta:
        raise Unencodable(
            type(t),
            f"is a torch tensor with layout {t.layout}"
            f"{' (quantized)' if t.is_quantized else ''}{' on meta' if t.is_meta else ''}: "
            "only dense strided tensors are encodable; convert it (e.g. .to_dense()) "
            "or register an encoder with keys.register(torch.Tensor)",
        )
    host = t.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
    enc.write(F.TENSOR + F.enc_str(str(t.dtype)))
    enc.encode(tuple(int(n) for n in t.shape))
    data = host.view(torch.uint8).numpy() if host.numel() else b""
    enc.write(F.length(len(data)))
    if len(data):
        enc.write(memoryview(data))


@register_writer(torch.dtype)
def _write_torch_dtype(enc: Any, value: torch.dtype) -> None:
    enc.write(F.TORCH_DTYPE + F.enc_str(str(value)))


@register_writer(torch.device)
def _write_torch_device(enc: Any, value: torch.device) -> None:
    enc.write(F.REGISTERED + type_prefix(torch.device) + F.enc_str(str(value)))
