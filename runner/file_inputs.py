"""File inputs at signing time: the store's stat records for ``keys.File``, and
one warning per run for plain path literals that name existing files.

Stat records are per machine (paths and inodes mean nothing elsewhere): one
document per host in the store, read on the first ``keys.File`` whose stat is
not known in this process, written back after signing when it changed. A
record that cannot be read or written only costs re-hashing, never the run.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from collections.abc import Iterable, Iterator
from pathlib import PurePath
from typing import Any

from blake3 import blake3

from keys.files import STATS, File, stat_source

log = logging.getLogger("digestflow")

KIND = "filestats"
FORMAT = "digestflow.filestats/1"
_MAX_CHECKS = 10_000  # distinct strings stat'ed per run, at most
SCALARS = frozenset({int, float, bool, type(None), bytes, complex})  # never a path


class PathLiteralWarning(UserWarning):
    """Plain path literals name existing files: their contents are not in the key."""


def doc_name() -> str:
    return "host-" + blake3(socket.gethostname().encode()).hexdigest()[:20]


def attach(store: Any) -> None:
    """Let ``keys.File`` read this store's stat records on its first miss."""
    stat_source(lambda: _load(store))


def detach_and_save(store: Any) -> None:
    stat_source(None)
    if not STATS.dirty:
        return
    try:
        store.put_doc(KIND, doc_name(), {"format": FORMAT, "entries": STATS.entries})
        STATS.dirty = False
    except Exception as err:  # a read-only store only costs re-hashing next time
        log.warning("digestflow: could not save file stat records: %s", err)


def _load(store: Any) -> dict[str, Any]:
    try:
        data = store.get_doc(KIND, doc_name())
    except Exception:
        return {}
    entries = data.get("entries") if isinstance(data, dict) else None
    return entries if data.get("format") == FORMAT and isinstance(entries, dict) else {}


def warn_plain_paths(graph: Any) -> None:
    """One warning listing str/Path literals that name existing files. A volatile task
    runs every time, so it reads an edited file anyway: its literals are left out."""
    warn_path_literals(((node.id, name, value) for node in graph if not node.task.opts.volatile
                        for name, value in node.literals.items() if type(value) not in SCALARS),
                       stacklevel=4)


def warn_path_literals(literals: Iterable[tuple[str, str, Any]], stacklevel: int = 3) -> None:
    """The warning of ``warn_plain_paths`` over (node id, input name, value) literals."""
    found: list[str] = []
    checked: dict[str, bool] = {}
    for node_id, name, value in literals:
        if type(value) in SCALARS:
            continue  # most literals: no generator, no stat
        for text in _path_like(value):
            if text not in checked and len(checked) < _MAX_CHECKS:
                checked[text] = os.path.isfile(text)
            if checked.get(text):
                found.append(f"{text!r} (node {node_id!r}, input {name!r})")
    if found:
        shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        warnings.warn(
            f"{len(found)} path literal(s) name existing files: {shown}. Their contents are "
            "not in the key (an edited file would not re-run the task): pass "
            "keys.File(path) to key them by contents", PathLiteralWarning, stacklevel=stacklevel)


def _path_like(value: Any) -> Iterator[str]:
    if isinstance(value, PurePath):
        yield str(value)
    elif isinstance(value, str) and 0 < len(value) < 1024 and ("/" in value or "." in value) \
            and "\n" not in value:
        yield value
    elif isinstance(value, (list, tuple)) and not isinstance(value, File):
        for item in value[:64]:
            if isinstance(item, (str, PurePath)):
                yield from _path_like(item)
