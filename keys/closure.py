"""A task's code closure: everything its code can reach that can change its result.

Starting at the task's function, the walk follows, transitively:

- functions and classes of the user's own code (``keys.origin``) reached
  through globals, ``module.attr`` chains, closure cells, default arguments
  and ``includes``; a class brings its methods, class attributes and bases;
- module-level values and closure cells by value (``keys.digest``); a list,
  tuple or dict that holds functions is walked element by element;
- code of an installed distribution by the distribution's name and version
  (unless package tracking is off); the standard library is not tracked.

Each thing reached becomes one ``CodePart`` (kind ``code``, ``value`` or
``package``), so ``explain`` can name the part that changed. Every object is
visited once (recursion and import cycles terminate).

Policy for what cannot be identified (a value with no encoding, such as an
open client or a lock): it is left out of the key with one ``ClosureWarning``
naming the task and the name, and recorded as an ``unidentified`` part.
``exclude=[name]`` leaves a name out on purpose, silently. Loggers are left
out silently: they do not change results.
"""

from __future__ import annotations

import dis
import functools
import logging
import types
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from keys._unencodable import short_repr
from keys.code import code_digest
from keys.encoder import digest
from keys.errors import ClosureWarning, UnhashableError
from keys.origin import SCRIPT_MODULES, STDLIB, USER, origin

CODE = "code"
VALUE = "value"
PACKAGE = "package"
UNIDENTIFIED = "unidentified"

_CHAIN_OPS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})
_GLOBAL_OPS = frozenset({"LOAD_GLOBAL", "LOAD_NAME"})
_SKIP_ATTRS = frozenset({
    "__module__", "__qualname__", "__doc__", "__dict__", "__weakref__", "__annotations__",
    "__slots__", "__match_args__", "__dataclass_fields__", "__dataclass_params__",
    "__firstlineno__", "__static_attributes__", "__orig_bases__", "__parameters__",
    "__abstractmethods__", "_abc_impl", "__hash__",
})
_SILENT_TYPES = (logging.Logger, logging.LoggerAdapter)


@dataclass(frozen=True, slots=True)
class CodePart:
    """One thing a task's identity covers. ``digest``: hex, or a package's version."""

    kind: str
    name: str
    digest: str
    preview: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out = {"kind": self.kind, "name": self.name, "digest": self.digest}
        if self.preview is not None:
            out["preview"] = self.preview
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> CodePart:
        return cls(str(data["kind"]), str(data["name"]), str(data["digest"]),
                   data.get("preview"))


def code_closure(
    fn: Any, *, task: str, includes: Iterable[Any] = (), exclude: Iterable[str] = (),
    packages: bool = True, script: str | None = None,
) -> list[CodePart]:
    """The parts of ``fn``'s code closure, sorted by (kind, name). ``script``: the name
    that stands for a script's module (``__main__``), so parts are named alike however
    the file was run."""
    walk = _Walk(task=task, exclude=frozenset(exclude), packages=packages, script=script)
    walk.function(fn, root=True)
    for i, obj in enumerate(includes):
        walk.visit(obj, f"{task}.<includes[{i}]>")
    if walk.unidentified:
        warnings.warn(
            f"task {task!r}: {', '.join(walk.unidentified)} cannot be identified and "
            "is left out of its key (a change there will not re-run it); give the value "
            "an encoder (keys.register) or __digest__(), declare what it depends on with "
            "@task(version=...) or fingerprint=, or silence this with @task(exclude=[name])",
            ClosureWarning, stacklevel=4,
        )
    return sorted(walk.parts.values(), key=lambda p: (p.kind, p.name))


class _Walk:
    def __init__(self, *, task: str, exclude: frozenset[str], packages: bool,
                 script: str | None) -> None:
        self.task, self.exclude, self.packages, self.script = task, exclude, packages, script
        self.parts: dict[tuple[str, str], CodePart] = {}
        self.seen: set[int] = set()
        self.alive: list[Any] = []  # keeps visited objects alive so ids stay unique
        self.unidentified: list[str] = []

    def module(self, name: str) -> str:
        return self.script if self.script and name in SCRIPT_MODULES else name

    def _first_visit(self, obj: Any) -> bool:
        if id(obj) in self.seen:
            return False
        self.seen.add(id(obj))
        self.alive.append(obj)
        return True

    def add(self, kind: str, name: str, digest: str, preview: str | None = None) -> None:
        self.parts[(kind, name)] = CodePart(kind, name, digest, preview)

    def function(self, fn: types.FunctionType, root: bool = False) -> None:
        """A user function: its code, what it references, its cells and defaults
        (a task's own defaults are inputs of its nodes already)."""
        if not self._first_visit(fn):
            return
        name = f"{self.module(fn.__module__)}.{fn.__qualname__}"
        self.add(CODE, name, code_digest(fn))
        code = fn.__code__
        for chain in _references(code):
            self._global(chain, fn.__globals__, self.module(fn.__module__))
        for var, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
            try:
                value = cell.cell_contents
            except ValueError:  # empty cell: not assigned yet
                continue
            self.visit(value, f"{name}.<closure {var}>", var)
        if root:
            return
        defaults = fn.__defaults__ or ()
        params = code.co_varnames[: code.co_argcount][-len(defaults):] if defaults else ()
        for param, value in zip(params, defaults, strict=True):
            self.visit(value, f"{name}.<default {param}>", param)
        for kw, value in (fn.__kwdefaults__ or {}).items():
            self.visit(value, f"{name}.<default {kw}>", kw)

    def _global(self, chain: tuple[str, ...], namespace: dict[str, Any], module: str) -> None:
        head = chain[0]
        if head in self.exclude or head not in namespace:
            return  # builtins, or a name not defined (yet): nothing to identify
        obj, path, owner = namespace[head], head, None
        for attr in chain[1:]:
            # vars(), not getattr: a lazy module attribute must not import anything
            if not isinstance(obj, types.ModuleType) or attr not in vars(obj):
                break
            owner, obj, path = obj, vars(obj)[attr], f"{path}.{attr}"
        if owner is not None and origin(owner.__name__) != USER \
                and not isinstance(obj, types.ModuleType):
            self._package(owner.__name__)  # anything a package holds: its version stands for it
            return
        self.visit(obj, f"{module}.{path}", path)

    def visit(self, obj: Any, name: str, short: str | None = None) -> None:
        """Identify one reachable object, named ``name`` for ``explain``."""
        if name in self.exclude or (short is not None and short in self.exclude):
            return
        if isinstance(obj, types.ModuleType):
            self._package(obj.__name__)
        elif isinstance(obj, types.FunctionType):
            self._callable(obj, obj.__module__, self.function)
        elif isinstance(obj, type):
            self._callable(obj, obj.__module__, self._class)
        elif isinstance(obj, types.MethodType):
            self.visit(obj.__func__, name)
            self.visit(obj.__self__, f"{name}.__self__")
        elif isinstance(obj, functools.partial):
            self.visit(obj.func, f"{name}.func")
            self.visit(obj.args, f"{name}.args")
            self.visit(obj.keywords, f"{name}.keywords")
        elif hasattr(obj, "__wrapped__") and callable(obj):
            self._package(type(obj).__module__)  # a wrapper (a Task, lru_cache...)
            self.visit(obj.__wrapped__, name)
        elif isinstance(obj, (types.BuiltinFunctionType, types.MethodWrapperType)):
            self._package(getattr(obj, "__module__", None))
        elif callable(obj) and hasattr(obj, "__name__") and _foreign(obj):
            self._package(obj.__module__)  # a package's function-like (numpy ufunc, cython)
        else:
            self._value(obj, name)

    def _callable(self, obj: Any, module: str | None, walk: Any) -> None:
        where = origin(module)
        if where == USER:
            walk(obj)
        elif where != STDLIB:
            self._package(module)

    def _package(self, module: str | None) -> None:
        where = origin(module)
        if self.packages and where not in (USER, STDLIB):
            dist, version = where
            self.add(PACKAGE, dist, version)

    def _class(self, cls: type) -> None:
        if not self._first_visit(cls):
            return
        name = f"{self.module(cls.__module__)}.{cls.__qualname__}"
        members = sorted(k for k in vars(cls) if k not in _SKIP_ATTRS)
        bases = [f"{self.module(b.__module__)}.{b.__qualname__}" for b in cls.__bases__]
        self.add(CODE, name, digest((tuple(bases), tuple(members))).hex())
        for base in cls.__bases__:
            self.visit(base, f"{name}.<base>")
        for member in members:
            value = vars(cls)[member]
            if isinstance(value, (staticmethod, classmethod)):
                value = value.__func__
            if isinstance(value, property):
                for i, accessor in enumerate((value.fget, value.fset, value.fdel)):
                    if accessor is not None:
                        self.visit(accessor, f"{name}.{member}.<{i}>")
                continue
            self.visit(value, f"{name}.{member}")

    def _value(self, obj: Any, name: str) -> None:
        if isinstance(obj, _SILENT_TYPES):
            return
        if origin(type(obj).__module__) == USER:
            self._class(type(obj))
        try:
            self.add(VALUE, name, digest(obj).hex(), short_repr(obj, 40))
            return
        except UnhashableError:
            pass
        except Exception as err:  # a broken __digest__ or encoder: named, not fatal here
            self.add(UNIDENTIFIED, name, "", f"{type(obj).__qualname__}: {err}")
            self.unidentified.append(f"`{name}` ({type(obj).__qualname__}: {err})")
            return
        if not self._first_visit(obj):
            return  # a container seen before (or one that holds itself)
        if isinstance(obj, (list, tuple)):
            for i, item in enumerate(obj):
                self.visit(item, f"{name}[{i}]")
        elif isinstance(obj, dict):
            for k, item in obj.items():
                self.visit(item, f"{name}[{short_repr(k, 30)}]")
        else:
            self.add(UNIDENTIFIED, name, "", type(obj).__qualname__)
            self.unidentified.append(f"`{name}` ({type(obj).__qualname__})")


def _foreign(obj: Any) -> bool:
    module = getattr(obj, "__module__", None)
    return isinstance(module, str) and origin(module) != USER


def _references(code: types.CodeType) -> list[tuple[str, ...]]:
    """Global names read by ``code`` (and code nested in it), each with the
    attribute chain read from it: ``np.linalg.norm`` -> ("np", "linalg", "norm")."""
    chains: list[tuple[str, ...]] = []
    stack = [code]
    while stack:
        current = stack.pop()
        chain: list[str] | None = None
        for ins in dis.get_instructions(current):
            if ins.opname in _GLOBAL_OPS:
                if chain:
                    chains.append(tuple(chain))
                chain = [ins.argval]
            elif chain and ins.opname in _CHAIN_OPS:
                chain.append(ins.argval)
            elif chain and ins.opname not in ("PRECALL", "CACHE", "EXTENDED_ARG"):
                chains.append(tuple(chain))
                chain = None
        if chain:
            chains.append(tuple(chain))
        stack.extend(c for c in current.co_consts if isinstance(c, types.CodeType))
    return chains
