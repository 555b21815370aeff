"""The internal "cannot encode" signal and how it becomes a user-facing error.

Encoders raise ``Unencodable`` with the offending type; each container it
passes through on the way up prepends its path segment (zero cost when
nothing fails). The public entry points turn it into ``UnhashableError``.
"""

from __future__ import annotations

import functools
import types

from keys._format import type_name
from keys.errors import UnhashableError


class Unencodable(Exception):
    """A value (somewhere inside the one being encoded) has no encoding."""

    def __init__(self, tp: type, problem: str | None = None) -> None:
        super().__init__(tp)
        self.tp = tp
        self.problem = problem
        self.segments: list[str] = []

    def at(self, segment: str) -> Unencodable:
        """Record that the failure happened inside ``segment`` (prepended)."""
        self.segments.append(segment)
        return self

    def path(self, root: str) -> str:
        return root + "".join(reversed(self.segments))

    def describe(self, root: str) -> str:
        name = self.tp.__name__
        problem = self.problem or _advice(self.tp) or (
            f"has type {type_name(self.tp)}: register an encoder with "
            f"keys.register({name}) or give {name} a __digest__() method"
        )
        return f"{self.path(root)} {problem}"

    def to_error(self, root: str, prefix: str = "") -> UnhashableError:
        err = UnhashableError(prefix + self.describe(root))
        err.path = self.path(root)  # type: ignore[attr-defined]
        err.value_type = self.tp  # type: ignore[attr-defined]
        return err


_CALLABLES = (types.FunctionType, types.BuiltinFunctionType, types.MethodType,
              functools.partial)


def _advice(tp: type) -> str | None:
    """Better advice than keys.register for literals people pass by mistake."""
    if issubclass(tp, _CALLABLES):
        return (f"is a function ({type_name(tp)}), which cannot be a literal input: a "
                "function's code is not data. Pass what selects it instead (a name or "
                "parameters the task maps to the function), or call it inside the task")
    if tp.__module__.split(".")[0] == "pandas" and tp.__name__ in ("DataFrame", "Series"):
        return (f"is a pandas {tp.__name__} literal: make it in a task (e.g. a loader) and "
                ".bind() that node, so it is stored once as Arrow; or pass "
                "pyarrow.Table.from_pandas(df), which keys by content")
    return None


def short_repr(value: object, limit: int = 40) -> str:
    """A bounded repr for error paths and previews (display only, never hashed)."""
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        text = f"<{type(value).__name__}>"
    return text if len(text) <= limit else text[: limit - 1] + "…"
