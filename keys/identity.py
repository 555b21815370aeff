"""``task_identity``: the string that stands for a task's code in its key.

With an explicit version, the identity is ``module.qualname@v=<version>``
(``module`` is the file's stem for a pipeline run as a script) and editing
the code keeps its cache. Without one it is ``module.qualname@code=<hex>``:
a digest of the task's code closure (``keys.closure``: its normalised code,
the user functions, classes and module values it reaches, the versions of
the packages it calls), so any change that can change the result changes it
and cosmetic edits do not. Decorators made with ``functools.wraps`` are
unwrapped.

Computed once per process per (function, options); ``code_parts(identity)``
returns the closure's parts, which recipes carry so ``explain`` can say
which part changed.
"""

from __future__ import annotations

import inspect
import os
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from blake3 import blake3

from keys import _format as F
from keys.closure import CodePart, code_closure
from keys.encoder import encode
from keys.errors import SigningError
from keys.origin import SCRIPT_MODULES

_CACHE: weakref.WeakKeyDictionary[Any, dict[Any, str]] = weakref.WeakKeyDictionary()
_PARTS: dict[str, tuple[CodePart, ...]] = {}
_TRACK_PACKAGES = [os.environ.get("DIGESTFLOW_TRACK_PACKAGES", "1").lower()
                   not in ("0", "false", "no", "off")]

__all__ = ["SCRIPT_MODULES", "code_parts", "task_identity", "track_packages"]


def track_packages(enabled: bool) -> None:
    """Global switch: whether identities include the versions of the installed
    distributions a task's code calls (default on; ``DIGESTFLOW_TRACK_PACKAGES=0``
    turns it off). Identities already computed in this process keep theirs."""
    _TRACK_PACKAGES[0] = bool(enabled)


def task_identity(
    fn: Callable[..., Any], version: str | None = None, *, includes: Iterable[Any] = (),
    exclude: Iterable[str] = (), packages: bool = True,
) -> str:
    """Identity of ``fn`` for keys; cached per function object and options."""
    includes, exclude = tuple(includes), tuple(sorted(exclude))
    packages = packages and _TRACK_PACKAGES[0]
    options = (version, tuple(id(x) for x in includes), exclude, packages)
    try:
        per_fn = _CACHE.get(fn)
    except TypeError:  # not weak-referenceable: compute every time
        return _compute(fn, version, includes, exclude, packages)
    if per_fn is None:
        per_fn = {}
        _CACHE[fn] = per_fn
    ident = per_fn.get(options)
    if ident is None:
        ident = per_fn[options] = _compute(fn, version, includes, exclude, packages)
    return ident


def code_parts(identity: str) -> tuple[CodePart, ...]:
    """The closure parts behind an identity computed in this process (else empty)."""
    return _PARTS.get(identity, ())


def _compute(fn: Callable[..., Any], version: str | None, includes: tuple[Any, ...],
             exclude: tuple[str, ...], packages: bool) -> str:
    target = inspect.unwrap(fn)
    module = getattr(target, "__module__", None) or "<unknown>"  # exec() without __name__
    script = _script_stem(target) if module in SCRIPT_MODULES else None
    qualname = getattr(target, "__qualname__", None)
    if qualname is None or not hasattr(target, "__code__"):
        raise SigningError(
            f"cannot identify task {fn!r}: it is not a Python function; "
            "wrap it in a def or pass an explicit version"
        )
    name = f"{script or module}.{qualname}"
    if version is not None:
        return f"{name}@v={version}"
    parts = tuple(code_closure(target, task=name, includes=includes, exclude=exclude,
                               packages=packages, script=script))
    hashed = tuple((p.kind, p.name, p.digest) for p in parts if p.kind != "unidentified")
    ident = f"{name}@code={blake3(F.SOURCE_DOMAIN + encode(hashed)).hexdigest()}"
    _PARTS[ident] = parts
    return ident


def _script_stem(fn: Any) -> str | None:
    filename = getattr(getattr(fn, "__code__", None), "co_filename", "")
    if not filename.endswith(".py"):
        return None  # <stdin>, <string>, notebooks: no file to name
    return filename.replace("\\", "/").rsplit("/", 1)[-1][:-3]
