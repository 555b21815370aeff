"""keys: canonical encoding and blake3 signatures. Pure: no Ray, no I/O.

numpy, pyarrow and torch encoders are registered lazily: importing ``keys``
imports none of them; the first value of such a type installs its encoders.
"""

from __future__ import annotations

import importlib

from keys import containers as _containers  # noqa: F401 - registers builtin writers
from keys import stdlib as _stdlib  # noqa: F401 - registers stdlib writers
from keys._format import FORMAT_VERSION, KEY_FORMAT_VERSION
from keys.closure import CodePart
from keys.encoder import digest, encode
from keys.errors import ClosureWarning, DigestflowError, SigningError, UnhashableError
from keys.files import File, file_digest
from keys.identity import code_parts, task_identity, track_packages
from keys.key import Key
from keys.recipe import LinkEntry, LiteralEntry, Recipe
from keys.registry import register, register_lazy
from keys.signer import SignableNode, Signer

for _module, _impl in (
    ("numpy", "keys._numpy"),
    ("pyarrow", "keys._arrow"),
    ("torch", "keys._torch"),
):
    register_lazy(_module)(lambda impl=_impl: importlib.import_module(impl))

__all__ = [
    "FORMAT_VERSION",
    "KEY_FORMAT_VERSION",
    "ClosureWarning",
    "CodePart",
    "DigestflowError",
    "File",
    "Key",
    "LinkEntry",
    "LiteralEntry",
    "Recipe",
    "SignableNode",
    "Signer",
    "SigningError",
    "UnhashableError",
    "digest",
    "encode",
    "file_digest",
    "register",
    "register_lazy",
    "code_parts",
    "task_identity",
    "track_packages",
]
