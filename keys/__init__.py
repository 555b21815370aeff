"""keys: canonical encoding and blake3 signatures. Pure: no Ray, no I/O."""

from __future__ import annotations

from keys.errors import DigestflowError, SigningError, UnhashableError

__all__ = ["DigestflowError", "SigningError", "UnhashableError"]
