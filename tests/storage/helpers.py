"""Small helpers shared by the storage tests."""

from __future__ import annotations

import math
import struct
from typing import Any

import blake3


def key(n: int | str) -> str:
    """A deterministic valid key (64 lowercase hex) for test object ``n``."""
    return blake3.blake3(f"test-key-{n}".encode()).hexdigest()


class FakeKey:
    """Stands in for ``keys.Key``: anything with ``.hex()`` is accepted."""

    def __init__(self, hex_: str) -> None:
        self._hex = hex_

    def hex(self) -> str:
        return self._hex


def typed(value: Any) -> Any:
    """A structure equal for two values only if types, float bits and order match."""
    tp = type(value)
    if tp is float:
        return ("float", struct.pack("<d", value))
    if tp in (list, tuple):
        return (tp.__name__, [typed(v) for v in value])
    if tp is dict:
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    return (tp.__name__, value)


def nan_with_payload() -> float:
    return struct.unpack("<d", struct.pack("<Q", 0x7FF8_0000_0000_BEEF))[0]


assert math.isnan(nan_with_payload())
