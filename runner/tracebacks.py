"""Tracebacks that start where the user's code does.

A task's exception passes through digestflow's worker wrapper (and Ray's,
and asyncio's for async tasks) before the user's function. Those frames
say nothing to the user; ``user_traceback`` drops the leading ones, keeping
the whole traceback when the error was raised by digestflow itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import traceback
from types import TracebackType

__all__ = ["is_internal", "user_traceback"]

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_INTERNAL = tuple(
    os.path.join(_ROOT, pkg) + os.sep for pkg in ("runner", "cluster", "keys", "storage")
) + tuple(os.path.dirname(m.__file__ or "") + os.sep for m in (asyncio, concurrent.futures))


def is_internal(filename: str) -> bool:
    """True for frames of digestflow's own packages and the asyncio/futures machinery."""
    return os.path.abspath(filename).startswith(_INTERNAL)


def _first_user_frame(tb: TracebackType | None) -> TracebackType | None:
    start = tb
    while start is not None and is_internal(start.tb_frame.f_code.co_filename):
        start = start.tb_next
    return start or tb  # nothing but our frames: digestflow raised it, keep them all


def user_traceback(err: BaseException) -> str:
    """``err`` formatted like Python does, its traceback starting at the user's first frame."""
    return "".join(traceback.format_exception(type(err), err, _first_user_frame(
        err.__traceback__)))
