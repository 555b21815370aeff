"""``task_identity``: the string that stands for a task's code in its key.

With an explicit version, the identity is ``module.qualname@v=<version>``
(``module`` is the file's stem for a pipeline run as a script)
and editing the function keeps its cache. Without one it is
``module.qualname@src=<blake3 hex>`` of the dedented source, so editing the
task invalidates it; where no source exists (``python -c``, some notebooks)
the hex is a digest of the code object instead (bytecode, constants
recursively, names). Decorators made with ``functools.wraps`` are unwrapped.
"""

from __future__ import annotations

import inspect
import textwrap
import types
import weakref
from collections.abc import Callable
from typing import Any

from blake3 import blake3

from keys import _format as F
from keys.encoder import encode
from keys.errors import SigningError

_CACHE: weakref.WeakKeyDictionary[Any, dict[str | None, str]] = weakref.WeakKeyDictionary()


def task_identity(fn: Callable[..., Any], version: str | None = None) -> str:
    """Identity of ``fn`` for keys; cached per function object and version."""
    try:
        per_fn = _CACHE.get(fn)
    except TypeError:  # not weak-referenceable: compute every time
        return _compute(fn, version)
    if per_fn is None:
        per_fn = {}
        _CACHE[fn] = per_fn
    ident = per_fn.get(version)
    if ident is None:
        ident = per_fn[version] = _compute(fn, version)
    return ident


# Module names a pipeline file gets when run as a script (python FILE.py,
# digestflow run FILE.py): identities use the file's stem instead, so the same
# file keys the same whether it is run, run by the CLI, or imported by name.
SCRIPT_MODULES = frozenset({"__main__", "__digestflow__"})


def _compute(fn: Callable[..., Any], version: str | None) -> str:
    target = inspect.unwrap(fn)
    module = getattr(target, "__module__", None) or "<unknown>"  # exec() without __name__
    if module in SCRIPT_MODULES:
        module = _script_stem(target) or module
    qualname = getattr(target, "__qualname__", None)
    if qualname is None:
        raise SigningError(
            f"cannot identify task {fn!r}: it has no __qualname__; "
            "wrap it in a def or pass an explicit version"
        )
    name = f"{module}.{qualname}"
    if version is not None:
        return f"{name}@v={version}"
    return f"{name}@src={_code_digest(target)}"


def _script_stem(fn: Any) -> str | None:
    filename = getattr(getattr(fn, "__code__", None), "co_filename", "")
    if not filename.endswith(".py"):
        return None  # <stdin>, <string>, notebooks: no file to name
    return filename.replace("\\", "/").rsplit("/", 1)[-1][:-3]


def _code_digest(fn: Any) -> str:
    try:
        source = textwrap.dedent(inspect.getsource(fn))
        payload = b"source\x00" + source.encode("utf-8", "surrogatepass")
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        if code is None:
            raise SigningError(
                f"cannot identify task {fn!r}: no source and no code object; pass a version"
            ) from None
        payload = b"code\x00" + encode(_code_tuple(code))
    return blake3(F.SOURCE_DOMAIN + payload).hexdigest()


def _code_tuple(code: types.CodeType) -> tuple[Any, ...]:
    """What a code object computes, minus line numbers and file names."""
    consts = tuple(
        _code_tuple(c) if isinstance(c, types.CodeType) else _const(c) for c in code.co_consts
    )
    return (
        code.co_code,
        consts,
        code.co_names,
        code.co_varnames,
        code.co_freevars,
        code.co_cellvars,
        code.co_argcount,
        code.co_posonlyargcount,
        code.co_kwonlyargcount,
        code.co_flags,
    )


def _const(value: Any) -> Any:
    """Constants are str/bytes/numbers/None/Ellipsis/tuples/frozensets of those."""
    if value is Ellipsis:
        return bytearray(b"Ellipsis")  # no code constant is a bytearray: no collision
    if isinstance(value, (tuple, frozenset)):
        return type(value)(_const(v) for v in value)
    return value
