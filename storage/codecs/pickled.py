"""Anything else: cloudpickle, authenticated with HMAC-SHA256.

File layout: ``MAGIC (8 bytes) | tag (32 bytes) | cloudpickle payload``. The
tag covers the payload and the object's (key, socket), so a pickle can be
neither altered nor moved to another address. Loading a pickle runs arbitrary
code, so a missing or wrong tag raises ``UntrustedPickleError`` and nothing is
unpickled. The content digest (integrity) is checked separately by the store;
the tag (authenticity) is checked always, whatever the verify policy.
"""

from __future__ import annotations

import pickle
from typing import Any, BinaryIO

from storage.codecs.base import CodecContext
from storage.errors import StorageError, UntrustedPickleError
from storage.secret import ENV_VAR, TAG_SIZE, pickle_tag, tag_matches

MAGIC = b"DFPKL1\x00\x00"
_HEADER = len(MAGIC) + TAG_SIZE


def _refuse(ctx: CodecContext, why: str) -> UntrustedPickleError:
    return UntrustedPickleError(
        f"refusing to unpickle object {ctx.key}/{ctx.socket}: {why}. Unpickling runs "
        "arbitrary code, so digestflow loads only pickles signed with this store's secret. "
        f"If several machines share the store, set {ENV_VAR} to the same value on all of "
        "them (including the one that wrote it); otherwise delete the object so it is "
        "recomputed: store.delete(key, socket)."
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

        secret = ctx.secret()  # fails clearly before anything is written
        try:
            payload = cloudpickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:
            raise StorageError(
                f"cannot store object {ctx.key}/{ctx.socket}: no codec for "
                f"{type(value).__qualname__} and cloudpickle failed: {err}"
            ) from err
        sink.write(MAGIC + pickle_tag(secret, ctx.key, ctx.socket, payload))
        sink.write(payload)
        tp = type(value)
        return {"type": f"{tp.__module__}.{tp.__qualname__}"}

    def decode(self, buf: Any, summary: dict[str, Any], ctx: CodecContext) -> Any:
        view = memoryview(buf)
        if len(view) < _HEADER or bytes(view[: len(MAGIC)]) != MAGIC:
            raise _refuse(ctx, "it has no authentication tag")
        try:
            secret = ctx.secret()
        except StorageError as err:
            raise _refuse(ctx, f"no secret to check it with ({err})") from err
        tag, payload = bytes(view[len(MAGIC) : _HEADER]), view[_HEADER:]
        if not tag_matches(secret, ctx.key, ctx.socket, payload, tag):
            raise _refuse(
                ctx, "its authentication tag is wrong (tampered, or signed with another secret)"
            )
        return pickle.loads(payload)
