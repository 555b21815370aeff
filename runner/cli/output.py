"""Helpers shared by the inspection commands: --store/--json options, sizes, times, tables.

Human output is plain aligned text (no colour, no escape codes), so it reads
the same in a terminal, a pipe and a CI log; ``--json`` prints one JSON
document for scripts.
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Sequence
from typing import Any

from runner.records import when  # noqa: F401 - re-exported for the commands
from runner.result import human_bytes  # noqa: F401 - re-exported for the commands

_UNITS = {"": 1, "k": 1e3, "m": 1e6, "g": 1e9, "t": 1e12,
          "ki": 1024, "mi": 1024**2, "gi": 1024**3, "ti": 1024**4}
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


CACHE_HELP = ("how to use the cache: use = read cached outputs and store new ones (default); "
              "refresh = recompute every needed node and overwrite; read = use cached "
              "outputs, store nothing new; off = neither read nor write")


def add_common(p: argparse.ArgumentParser, *, json_flag: bool = True) -> None:
    p.add_argument("--store", help="store URI (default $DIGESTFLOW_STORE or ./.digestflow)")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON for scripts")


def open_store_arg(args: argparse.Namespace, *, readonly: bool = False) -> Any:
    """The --store store, checked (a store, writable unless ``readonly``) before anything."""
    from storage import open_store

    return open_store(args.store, readonly=readonly)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def parse_size(text: str) -> int:
    """``50G``, ``1.5GiB``, ``200M``, ``1024`` -> bytes (SI units; ``Ki``/``Gi`` binary)."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([kmgt]i?)?b?\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(
            f"size {text!r}: expected a number with K/M/G/T (or Ki/Mi/Gi/Ti)")
    return int(float(m.group(1)) * _UNITS[m.group(2) or ""])


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``12h``, ``7d``, ``2w`` -> seconds."""
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*([smhdw]?)\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"duration {text!r}: expected a number with s/m/h/d/w")
    return float(m.group(1)) * _SECONDS[m.group(2) or "s"]


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """Left-aligned text columns; numbers right-aligned."""
    cells = [[str(c) for c in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    numeric = [all(_is_number(r[i]) for r in cells[1:]) and len(cells) > 1
               for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [c.rjust(w) if num else c.ljust(w) for c, w, num in zip(row, widths, numeric,
                                                                        strict=True)]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _is_number(text: str) -> bool:
    return bool(re.fullmatch(r"-?[0-9.]+( [KMGT]?i?B)?%?", text))
