"""``code_digest``: what one function's code computes, without its cosmetics.

The digest is taken over the function's normalised AST: comments, blank
lines and formatting never reach the AST; docstrings (of the function and of
anything nested in it) and the function's own decorator lines are removed.
The source comes from ``linecache`` (files, notebook cells); each source text
is parsed once per process and its definitions indexed by first line. Where
no source exists (``python -c``, ``exec``) or a line holds several lambdas,
the digest is taken over the code object instead (bytecode, constants
recursively, names; no line numbers).
"""

from __future__ import annotations

import ast
import linecache
import types
from typing import Any

from blake3 import blake3

from keys import _format as F
from keys.encoder import encode

_Defs = dict[int, list[ast.AST]]
_INDEX: dict[tuple[str, int], tuple[list[str], _Defs]] = {}
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def code_digest(fn: Any) -> str:
    """Hex digest of ``fn``'s normalised code (``fn`` has ``__code__``)."""
    code: types.CodeType = fn.__code__
    node = _find_def(code, getattr(fn, "__globals__", None))
    if node is not None:
        payload = b"ast\x00" + _dump(node).encode("utf-8", "surrogatepass")
    else:
        payload = b"code\x00" + encode(code_tuple(code))
    return blake3(F.SOURCE_DOMAIN + payload).hexdigest()


def _find_def(code: types.CodeType, module_globals: Any) -> ast.AST | None:
    linecache.checkcache(code.co_filename)  # a file edited since it was read: reread
    lines = linecache.getlines(code.co_filename, module_globals)
    if not lines:
        return None
    defs = _definitions(code.co_filename, lines)
    found = [
        n for n in defs.get(code.co_firstlineno, ())
        if getattr(n, "name", "<lambda>") == code.co_name
    ]
    return found[0] if len(found) == 1 else None


def _definitions(filename: str, lines: list[str]) -> _Defs:
    """First line -> function/lambda nodes defined there, docstrings removed."""
    cache_key = (filename, id(lines))  # linecache keeps one list per file version
    held = _INDEX.get(cache_key)
    if held is not None and held[0] is lines:
        return held[1]
    defs: _Defs = {}
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        tree = ast.Module(body=[], type_ignores=[])
    for node in ast.walk(tree):
        _drop_docstring(node)
        if isinstance(node, _DEFS):
            decorators = getattr(node, "decorator_list", ())
            first = min([d.lineno for d in decorators] + [node.lineno])
            defs.setdefault(first, []).append(node)
    _INDEX[cache_key] = (lines, defs)  # holding the list keeps its id unique
    return defs


def _drop_docstring(node: ast.AST) -> None:
    body = getattr(node, "body", None)
    if (
        isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module))
        and body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        del body[0]


def _dump(node: ast.AST) -> str:
    """The AST without positions and without this definition's own decorators."""
    decorators = getattr(node, "decorator_list", None)
    if not decorators:
        return ast.dump(node, annotate_fields=False)
    node.decorator_list = []  # type: ignore[attr-defined]
    try:
        return ast.dump(node, annotate_fields=False)
    finally:
        node.decorator_list = decorators  # type: ignore[attr-defined]


def code_tuple(code: types.CodeType) -> tuple[Any, ...]:
    """What a code object computes, minus line numbers and file names."""
    consts = tuple(
        code_tuple(c) if isinstance(c, types.CodeType) else _const(c) for c in code.co_consts
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
