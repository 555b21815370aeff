"""Records the store hands out: manifests, usage statistics, gc and verify reports.

A manifest read from the store is untrusted input: it is parsed within a size
bound and checked against ``MANIFEST_SCHEMA`` (types, ranges, no absurd
numbers) before it becomes a ``Manifest``; anything else is a ``StorageError``
the store turns into a miss.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from storage.errors import StorageError

MANIFEST_FORMAT = 1
MAX_MANIFEST_BYTES = 1 << 20  # inline data is at most 4 KiB; summaries are small
_HEX64 = "^[0-9a-f]{64}$"
MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["key", "socket", "codec", "nbytes", "content_digest"],
    "properties": {
        "format": {"const": MANIFEST_FORMAT},
        "key": {"type": "string", "pattern": _HEX64},
        "socket": {"type": "integer", "minimum": 0, "maximum": 1023},
        "codec": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
        "nbytes": {"type": "integer", "minimum": 0, "maximum": 2**53},
        "content_digest": {"type": "string", "pattern": _HEX64},
        "summary": {"type": ["object", "null"]},
        "created": {"type": "number", "minimum": 0, "maximum": 1e11},
        "task": {"type": ["string", "null"], "maxLength": 1000},
        "inline": {"type": ["string", "null"], "maxLength": 8192},
    },
}
_validator: Any = None


_HEX64_RE = re.compile(r"[0-9a-f]{64}")
_CODEC_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _plainly_valid(d: Any) -> bool:
    """A hand-written check at least as strict as ``MANIFEST_SCHEMA``, ~20x faster than
    jsonschema: manifests are parsed on every lookup and read. Only what it does not
    pass goes to jsonschema, which decides (and words the error)."""
    if type(d) is not dict:
        return False
    summary, task, inline, created = (d.get(f) for f in ("summary", "task", "inline", "created"))
    return (
        d.get("format", 1) == 1 and type(d.get("format", 1)) is int
        and type(d.get("key")) is str and _HEX64_RE.fullmatch(d["key"]) is not None
        and type(d.get("socket")) is int and 0 <= d["socket"] <= 1023
        and type(d.get("codec")) is str and _CODEC_RE.fullmatch(d["codec"]) is not None
        and type(d.get("nbytes")) is int and 0 <= d["nbytes"] <= 2**53
        and type(d.get("content_digest")) is str
        and _HEX64_RE.fullmatch(d["content_digest"]) is not None
        and (summary is None or type(summary) is dict)
        and (task is None or (type(task) is str and len(task) <= 1000))
        and (inline is None or (type(inline) is str and len(inline) <= 8192))
        and ("created" not in d or (type(created) in (int, float) and 0 <= created <= 1e11))
    )


def _check_schema(data: Any) -> None:
    """Raise StorageError naming the first way ``data`` breaks ``MANIFEST_SCHEMA``."""
    if _plainly_valid(data):
        return
    global _validator
    if _validator is None:
        import jsonschema

        _validator = jsonschema.Draft202012Validator(MANIFEST_SCHEMA)
    error = next(iter(_validator.iter_errors(data)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "manifest"
        raise StorageError(f"malformed manifest: {where}: {error.message[:200]}")
    if isinstance(data.get("created"), float) and not math.isfinite(data["created"]):
        raise StorageError("malformed manifest: created is not a finite number")


@dataclass(frozen=True)
class Manifest:
    """What was stored under ``(key, socket)``; written after the data, so its presence
    is what makes the object exist. ``content_digest`` is blake3 of the data file bytes."""

    key: str
    socket: int
    codec: str
    nbytes: int
    content_digest: str
    summary: dict[str, Any] = field(default_factory=dict)
    created: float = 0.0
    task: str | None = None
    inline: str | None = None  # base64 data of a small object (see storage.inline)

    @property
    def ref(self) -> tuple[str, int]:
        return (self.key, self.socket)

    def to_dict(self) -> dict[str, Any]:
        # explicit, and a shallow copy of the summary (as from_dict takes it): this runs
        # for every stored output, on the worker's hot path
        return {
            "format": MANIFEST_FORMAT, "key": self.key, "socket": self.socket,
            "codec": self.codec, "nbytes": self.nbytes, "content_digest": self.content_digest,
            "summary": dict(self.summary), "created": self.created, "task": self.task,
            **({"inline": self.inline} if self.inline is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Manifest:
        if data.get("format", MANIFEST_FORMAT) != MANIFEST_FORMAT:
            raise StorageError(f"manifest format {data.get('format')!r} is not supported")
        try:
            return cls(
                key=str(data["key"]),
                socket=int(data["socket"]),
                codec=str(data["codec"]),
                nbytes=int(data["nbytes"]),
                content_digest=str(data["content_digest"]),
                summary=dict(data.get("summary") or {}),
                created=float(data.get("created", 0.0)),
                task=data.get("task"),
                inline=_optional_str(data.get("inline")),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise StorageError(f"malformed manifest: {err}") from err

    def to_json(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False).encode()

    @classmethod
    def from_json(cls, raw: bytes) -> Manifest:
        """Parse untrusted bytes: bounded, schema-checked; ``StorageError`` if malformed."""
        if len(raw) > MAX_MANIFEST_BYTES:
            raise StorageError(f"malformed manifest: {len(raw)} bytes is too large")
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError) as err:
            raise StorageError(f"malformed manifest: not JSON ({str(err)[:100]})") from None
        _check_schema(data)
        return cls.from_dict(data)


def _optional_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"inline must be a string, got {type(value).__name__}")


@dataclass(frozen=True)
class Usage:
    """A count of objects and their data bytes."""

    objects: int = 0
    bytes: int = 0

    def plus(self, nbytes: int) -> Usage:
        return Usage(self.objects + 1, self.bytes + nbytes)


@dataclass(frozen=True)
class StoreStats:
    """Totals over all objects, broken down by codec and by task name."""

    objects: int
    bytes: int
    by_codec: dict[str, Usage]
    by_task: dict[str, Usage]


@dataclass(frozen=True)
class GcReport:
    """What ``gc`` removed (or, with ``dry_run``, would remove)."""

    evicted: tuple[tuple[str, int], ...]
    freed_bytes: int
    bytes_before: int
    bytes_after: int
    temporaries: tuple[str, ...]
    dry_run: bool
    aliases: tuple[str, ...] = ()  # second names of manifests no object holds any more


@dataclass(frozen=True)
class VerifyIssue:
    """One object ``verify_all`` found broken; ``repaired`` if it was quarantined.
    ``path`` names an entry that is not an object at all (a symlink, a directory)."""

    key: str
    socket: int
    problem: str
    repaired: bool = False
    path: str | None = None
