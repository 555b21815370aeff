"""``Recipe``: what went into a node's key, JSON-able, for ``explain``.

A recipe names the task identity, each literal's digest (with a short
preview for small values, so a diff can say ``0.5 -> 0.7``), each parent
key with its socket, and the parts of the task's code closure (so a diff can
say which helper, module value or package changed). It never holds the
values themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from keys.closure import CodePart


@dataclass(frozen=True)
class LiteralEntry:
    """One literal input: its name, ``digest(value).hex()``, and a preview or None."""

    name: str
    digest: str
    preview: str | None = None


@dataclass(frozen=True)
class LinkEntry:
    """One linked input: its name, the parent's key (hex) and output socket."""

    name: str
    parent: str
    socket: int


@dataclass(frozen=True)
class Recipe:
    """Everything a node's key was computed from (inputs sorted by name)."""

    identity: str
    literals: tuple[LiteralEntry, ...]
    links: tuple[LinkEntry, ...]
    key: str
    code: tuple[CodePart, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "identity": self.identity,
            "literals": [
                {"name": e.name, "digest": e.digest, "preview": e.preview} for e in self.literals
            ],
            "links": [{"name": e.name, "parent": e.parent, "socket": e.socket} for e in self.links],
            "code": [p.to_dict() for p in self.code],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Recipe:
        return cls(
            identity=str(data["identity"]),
            literals=tuple(
                LiteralEntry(str(e["name"]), str(e["digest"]), e.get("preview"))
                for e in data.get("literals", ())
            ),
            links=tuple(
                LinkEntry(str(e["name"]), str(e["parent"]), int(e["socket"]))
                for e in data.get("links", ())
            ),
            key=str(data["key"]),
            code=tuple(CodePart.from_dict(p) for p in data.get("code", ())),
        )
