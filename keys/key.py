"""``Key``: the 32-byte blake3 digest that names a value or a node's output."""

from __future__ import annotations

from typing import Any

DIGEST_SIZE = 32


class Key:
    """An immutable 32-byte digest: hashable, ordered, picklable, cheap.

    A plain class with one slot rather than a ``bytes`` subclass, so a key
    never compares equal to (or is mistaken for) an arbitrary bytes value.
    """

    __slots__ = ("digest",)
    digest: bytes

    def __init__(self, digest: bytes) -> None:
        if not isinstance(digest, (bytes, bytearray, memoryview)):
            raise TypeError(f"Key needs {DIGEST_SIZE} bytes, got {type(digest).__name__}")
        digest = bytes(digest)
        if len(digest) != DIGEST_SIZE:
            raise ValueError(f"Key needs {DIGEST_SIZE} bytes, got {len(digest)}")
        object.__setattr__(self, "digest", digest)

    @classmethod
    def _trusted(cls, digest: bytes) -> Key:
        """Wrap a digest known to be 32 bytes (hot path of the signer)."""
        key = object.__new__(cls)
        object.__setattr__(key, "digest", digest)
        return key

    @classmethod
    def fromhex(cls, text: str) -> Key:
        return cls(bytes.fromhex(text))

    def hex(self) -> str:
        return self.digest.hex()

    def __bytes__(self) -> bytes:
        return self.digest

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Key is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Key is immutable")

    def __reduce__(self) -> tuple[Any, ...]:
        return (Key, (self.digest,))

    def __hash__(self) -> int:
        return hash(self.digest)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is Key:
            return self.digest == other.digest  # type: ignore[attr-defined]
        return NotImplemented

    def __ne__(self, other: object) -> bool:
        if other.__class__ is Key:
            return self.digest != other.digest  # type: ignore[attr-defined]
        return NotImplemented

    def __lt__(self, other: Key) -> bool:
        if other.__class__ is Key:
            return self.digest < other.digest
        return NotImplemented

    def __le__(self, other: Key) -> bool:
        if other.__class__ is Key:
            return self.digest <= other.digest
        return NotImplemented

    def __gt__(self, other: Key) -> bool:
        if other.__class__ is Key:
            return self.digest > other.digest
        return NotImplemented

    def __ge__(self, other: Key) -> bool:
        if other.__class__ is Key:
            return self.digest >= other.digest
        return NotImplemented

    def __repr__(self) -> str:
        return f"Key({self.digest[:6].hex()})"

    def __str__(self) -> str:
        return self.digest.hex()
