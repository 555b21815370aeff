"""Anything else: cloudpickle, authenticated with HMAC-SHA256.

File layout: ``MAGIC (8 bytes) | key id (8) | tag (32) | cloudpickle payload``.
The tag covers the payload and the object's (key, socket), so a pickle can be
neither altered nor moved to another address; the key id names the key that
signed it (see ``storage.secret``), so a store can hold several keys during a
rotation. Files written before key ids (``MAGIC_V1 | tag | payload``) are
checked against every listed key.

Loading a pickle runs arbitrary code, so nothing is unpickled unless its tag
verifies. A pickle signed with a key this process does not list raises
``UnknownKeyError`` (the store quarantines it: a miss, recomputed, not a
failure); a wrong tag under a listed key, or no tag, raises
``UntrustedPickleError``. The content digest
(integrity) is checked separately by the store; the tag (authenticity) is
checked always, whatever the verify policy.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import Any, BinaryIO

from storage.codecs.base import CodecContext
from storage.errors import (
    NotDecodableHere,
    StorageError,
    UnknownKeyError,
    UntrustedPickleError,
)
from storage.secret import KEY_ID_SIZE, TAG_SIZE, Keyring, key_id, pickle_tag, tag_matches

MAGIC = b"DFPKL2\x00\x00"
MAGIC_V1 = b"DFPKL1\x00\x00"
HEADER = len(MAGIC) + KEY_ID_SIZE + TAG_SIZE
_HEADER_V1 = len(MAGIC_V1) + TAG_SIZE
_HOW = "docs/security.md"


@dataclass(frozen=True)
class Signed:
    """A stored pickle split into its parts; ``kid`` is None for the old format."""

    kid: bytes | None
    tag: bytes
    payload: memoryview


def split(buf: Any) -> Signed | None:
    """The parts of a stored pickle, or None when it carries no authentication tag."""
    view = memoryview(buf).cast("B")
    magic = bytes(view[: len(MAGIC)])
    if magic == MAGIC and len(view) >= HEADER:
        kid_end = len(MAGIC) + KEY_ID_SIZE
        return Signed(bytes(view[len(MAGIC):kid_end]), bytes(view[kid_end:HEADER]),
                      view[HEADER:])
    if magic == MAGIC_V1 and len(view) >= _HEADER_V1:
        return Signed(None, bytes(view[len(MAGIC_V1):_HEADER_V1]), view[_HEADER_V1:])
    return None


def signer(signed: Signed, ring: Keyring, key: str, socket: int) -> bytes | None:
    """The listed key that signed ``signed``, or None when no listed key did.

    Raises ``UnknownKeyError`` when its key id names no listed key."""
    if signed.kid is None:  # old format: try every key
        return next((k for k in ring.keys
                     if tag_matches(k, key, socket, signed.payload, signed.tag)), None)
    secret = ring.find(signed.kid)
    if secret is None:
        raise UnknownKeyError(
            f"object {key}/{socket} was signed with pickle key {signed.kid.hex()}, which is "
            f"not among this process's keys ({', '.join(ring.ids())}, from {ring.source}); "
            "treated as a miss and recomputed. If another machine wrote it, give this one "
            "the same keys; after a rotation keep the old key listed after the new one "
            f"until `digestflow verify --rekey` has re-signed the store ({_HOW})."
        )
    return secret if tag_matches(secret, key, socket, signed.payload, signed.tag) else None


def sign(secret: bytes, key: str, socket: int, payload: memoryview | bytes) -> bytes:
    """The header that makes ``payload`` a stored pickle at ``(key, socket)``."""
    return MAGIC + key_id(secret) + pickle_tag(secret, key, socket, payload)


def _refuse(ctx: CodecContext, why: str) -> UntrustedPickleError:
    return UntrustedPickleError(
        f"refusing to unpickle object {ctx.key}/{ctx.socket}: {why}. Unpickling runs "
        "arbitrary code, so digestflow loads only pickles signed with this store's key. "
        "If several machines share the store, give all of them the same key "
        f"(DIGESTFLOW_SECRET_FILE or DIGESTFLOW_SECRET, {_HOW}), including the one that "
        "wrote it; otherwise delete the object so it is recomputed: "
        "store.delete(key, socket)."
    )


class PickleCodec:
    """Fallback for any value: cloudpickle plus an HMAC tag."""

    name = "pickle"
    ext = "pkl"
    writable = False

    def accepts(self, value: Any) -> bool:
        return True

    def encode(self, value: Any, sink: BinaryIO, ctx: CodecContext) -> dict[str, Any]:
        import cloudpickle

        secret = ctx.secret().current  # fails clearly before anything is written
        try:
            payload = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:
            raise StorageError(
                f"cannot store object {ctx.key}/{ctx.socket}: no codec for "
                f"{type(value).__qualname__} and cloudpickle failed: {err}"
            ) from err
        sink.write(sign(secret, ctx.key, ctx.socket, payload))
        sink.write(payload)
        tp = type(value)
        return {"type": f"{tp.__module__}.{tp.__qualname__}", "key_id": key_id(secret).hex()}

    def decode(self, buf: Any, summary: dict[str, Any], ctx: CodecContext) -> Any:
        signed = split(buf)
        if signed is None:
            raise _refuse(ctx, "it has no authentication tag")
        try:
            ring = ctx.secret()
        except StorageError as err:
            raise _refuse(ctx, f"no key to check it with ({err})") from err
        if signer(signed, ring, ctx.key, ctx.socket) is None:
            raise _refuse(ctx, "its authentication tag is wrong (tampered, or signed with "
                          "another key)")
        try:
            return pickle.loads(signed.payload)
        except Exception as err:  # authentic bytes: what is missing is in this process
            raise NotDecodableHere(f"{type(err).__name__}: {err}") from err
