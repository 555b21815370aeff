"""Records the store hands out: manifests, usage statistics, gc and verify reports."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from storage.errors import StorageError

MANIFEST_FORMAT = 1


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
        try:
            return cls.from_dict(json.loads(raw))
        except (ValueError, AttributeError) as err:
            raise StorageError(f"malformed manifest: {err}") from err


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


@dataclass(frozen=True)
class VerifyIssue:
    """One object ``verify_all`` found broken; ``repaired`` if it was quarantined."""

    key: str
    socket: int
    problem: str
    repaired: bool = False
