"""Why two recipes of one node differ, in plain words.

``diff_recipes(old, new)`` compares what went into two keys of the same node
(keys.Recipe dicts: identity, literal digests + previews, parent keys +
sockets) and returns ``Reason``s: a ``Direct`` reason is a first cause (a
literal, the task's code or version, an input added or removed); an
``Upstream`` reason says a parent's key changed, and carries the parent's own
``Cause`` so a chain of changes is told once, at its first cause.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Direct:
    text: str


@dataclass(frozen=True)
class Upstream:
    parent: str
    cause: Cause | None  # None: the parent's own history cannot say why


@dataclass(frozen=True)
class Cause:
    """Why ``node`` has (or had) to run: its reasons, first causes before upstream ones."""

    node: str
    reasons: tuple[Direct | Upstream, ...] = field(default=())

    @property
    def is_first_cause(self) -> bool:
        return any(isinstance(r, Direct) for r in self.reasons)

    def render(self) -> str:
        return render(self.reasons)


def diff_recipes(old: dict[str, Any], new: dict[str, Any]) -> tuple[list[Direct], dict[str, str]]:
    """(direct reasons, {link input name: new parent key}) for links whose parent changed."""
    reasons: list[Direct] = []
    parts = _code_changes(old, new)
    ident = None if parts else _identity_change(old["identity"], new["identity"])
    reasons.extend(Direct(text) for text in parts)
    if ident:
        reasons.append(Direct(ident))
    old_lits = {e["name"]: e for e in old.get("literals", ())}
    new_lits = {e["name"]: e for e in new.get("literals", ())}
    old_links = {e["name"]: e for e in old.get("links", ())}
    new_links = {e["name"]: e for e in new.get("links", ())}
    for name in sorted(set(old_lits) | set(new_lits)):
        was, now = old_lits.get(name), new_lits.get(name)
        if was and now and was["digest"] != now["digest"] and name == "<fingerprint>":
            reasons.append(Direct(f"fingerprint changed ({_values(was, now)})"))
        elif was and now and was["digest"] != now["digest"] and _same_file(was, now):
            reasons.append(Direct(f"file `{now['preview'][11:-2]}` changed (input `{name}`)"))
        elif was and now and was["digest"] != now["digest"]:
            reasons.append(Direct(f"literal `{name}` changed ({_values(was, now)})"))
        elif now and not was:
            before = "a link" if name in old_links else "absent"
            reasons.append(Direct(f"literal `{name}` added{_shown(now)} (was {before})"))
        elif was and not now and name not in new_links:
            reasons.append(Direct(f"input `{name}` removed"))
    changed: dict[str, str] = {}
    for name in sorted(set(old_links) | set(new_links)):
        was, now = old_links.get(name), new_links.get(name)
        if now and not was:
            before = "a literal" if name in old_lits else "absent"
            reasons.append(Direct(f"input `{name}` is now a link (was {before})"))
        elif was and not now and name not in new_lits:
            reasons.append(Direct(f"input `{name}` removed"))
        elif was and now and was["socket"] != now["socket"]:
            reasons.append(Direct(f"input `{name}` now reads output {now['socket']} "
                                  f"(was {was['socket']})"))
        elif was and now and was["parent"] != now["parent"]:
            changed[name] = now["parent"]
    return reasons, changed


def _same_file(was: dict[str, Any], now: dict[str, Any]) -> bool:
    preview = now.get("preview") or ""
    return preview.startswith("keys.File(") and was.get("preview") == preview


def _code_changes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Which parts of the task's code closure changed; empty when the identity did
    not change, or either recipe has no parts (an explicit version, an old record)."""
    if old["identity"] == new["identity"] or not old.get("code") or not new.get("code"):
        return []
    root = new["identity"].partition("@")[0]
    home = root.rsplit(".", 1)[0] + "."
    was = {(p["kind"], p["name"]): p for p in old["code"]}
    now = {(p["kind"], p["name"]): p for p in new["code"]}
    out = []
    for kind, name in sorted(set(was) | set(now), key=lambda k: (k[1] != root, k)):
        a, b = was.get((kind, name)), now.get((kind, name))
        shown = name[len(home):] if name.startswith(home) and name != root else name
        if a and b and a["digest"] == b["digest"]:
            continue
        if a and b:
            out.append(_part_changed(kind, shown, a, b, name == root))
        elif b and kind != "unidentified":
            out.append(f"now uses {_part_name(kind, shown)}{_shown(b)}")
        elif a and kind != "unidentified":
            out.append(f"no longer uses {_part_name(kind, shown)}")
    return out


def _part_changed(kind: str, shown: str, a: dict[str, Any], b: dict[str, Any],
                  root: bool) -> str:
    if kind == "package":
        return f"{shown} {a['digest']} -> {b['digest']}"
    if kind == "value":
        values = f" ({a['preview']} -> {b['preview']})" if a.get("preview") and \
            b.get("preview") else ""
        return f"{_value_name(shown)} changed{values}"
    if root:
        return f"task `{shown.rsplit('.', 1)[-1]}` source changed"
    return f"helper `{shown}` changed"


def _value_name(shown: str) -> str:
    """``global `X```, or ``closure value `c` of `f``` / ``default `k` of `f```."""
    owner, sep, inner = shown.rpartition(".<")
    if sep and inner.endswith(">") and " " in inner:
        role, _, var = inner[:-1].partition(" ")
        what = "closure value" if role == "closure" else role
        return f"{what} `{var}` of `{owner}`"
    return f"global `{shown}`"


def _part_name(kind: str, shown: str) -> str:
    if kind == "value":
        return _value_name(shown)
    return f"package `{shown}`" if kind == "package" else f"`{shown}`"


def _identity_change(old: str, new: str) -> str | None:
    if old == new:
        return None
    old_name, _, old_tag = old.partition("@")
    new_name, _, new_tag = new.partition("@")
    short = new_name.rsplit(".", 1)[-1]
    if old_name != new_name:
        return f"task changed: `{old_name}` -> `{new_name}`"
    if old_tag.startswith("v=") and new_tag.startswith("v="):
        return f"version {old_tag[2:]} -> {new_tag[2:]}"
    if old_tag[:4] in ("src=", "code") and new_tag[:4] in ("src=", "code"):
        return f"task `{short}` source changed"
    if new_tag.startswith("v="):
        return f"task `{short}` now has version {new_tag[2:]} (was keyed by its source)"
    if old_tag.startswith("v="):
        return f"task `{short}` version {old_tag[2:]} removed (now keyed by its source)"
    return f"task `{short}` identity changed ({old_tag} -> {new_tag})"


def _values(was: dict[str, Any], now: dict[str, Any]) -> str:
    text = f"digest {was['digest'][:8]}… -> {now['digest'][:8]}…"
    if was.get("preview") is not None and now.get("preview") is not None:
        text += f"; {was['preview']} -> {now['preview']}"
    elif now.get("preview") is not None:
        text += f"; now {now['preview']}"
    return text


def _shown(entry: dict[str, Any]) -> str:
    return f" (= {entry['preview']})" if entry.get("preview") is not None else ""


def render(reasons: tuple[Direct | Upstream, ...], depth: int = 0) -> str:
    """Direct reasons, then upstream ones; parents that changed for the same first
    cause share one phrase instead of repeating it per parent."""
    direct = [r.text for r in reasons if isinstance(r, Direct)]
    groups: dict[str, list[tuple[Upstream, list[str]]]] = {}
    for r in reasons:
        if isinstance(r, Upstream):
            chain, root = _chain(r) if depth == 0 else ([r.parent], None)
            because = render(root.reasons, depth + 1) if root is not None else ""
            groups.setdefault(because, []).append((r, chain))
    ups = [_upstream_phrase(because, members) for because, members in groups.items()]
    return "; ".join(direct + ups)


def _chain(reason: Upstream) -> tuple[list[str], Cause | None]:
    """Follow single-parent chains from ``reason.parent`` to the first cause."""
    chain = [reason.parent]
    cause = reason.cause
    if cause is None or not cause.reasons:
        return chain, None
    while len(cause.reasons) == 1 and isinstance(cause.reasons[0], Upstream) \
            and cause.reasons[0].cause is not None and cause.reasons[0].cause.reasons:
        chain.append(cause.reasons[0].parent)
        cause = cause.reasons[0].cause
    return chain, cause


def _upstream_phrase(because: str, members: list[tuple[Upstream, list[str]]]) -> str:
    names = ", ".join(f"`{r.parent}`" for r, _ in members)
    word = "upstream" if len(members) == 1 else "upstreams"
    if not because:
        return f"{word} {names} changed"
    roots = [chain[-1] for _, chain in members]
    if all(len(chain) == 1 for _, chain in members):
        return f"{word} {names} changed (because: {because})"
    if len(members) == 1:
        path = " <- ".join(f"`{n}`" for n in members[0][1])
        return f"{word} {names} changed (via {path}; because at `{roots[0]}`: {because})"
    at = ", ".join(f"`{n}`" for n in dict.fromkeys(roots))
    return f"{word} {names} changed (because at {at}: {because})"
