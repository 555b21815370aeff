"""Where a module comes from: the user's own code, the standard library, or an
installed distribution (with its name and version).

Policy, in order: a script's module (``__main__``) is user code; a
standard-library name (``sys.stdlib_module_names``) is the standard
library's; digestflow's own packages are the ``digestflow`` distribution; a
module whose file lies outside every site-packages directory is user code
unless a distribution of the same name is installed in the same directory
(so a project installed with ``pip install -e`` is followed like a script);
anything else is an installed distribution, found by its top-level name
(``importlib.metadata``; a full scan of installed metadata only when the name
differs from the distribution's). Answers are cached per process.
"""

from __future__ import annotations

import importlib.metadata
import os
import site
import sys
import sysconfig
from functools import cache, lru_cache

USER = "user"
_OWN = frozenset({"keys", "storage", "runner", "cluster"})
STDLIB = "stdlib"
# Module names a pipeline file gets when run as a script (python FILE.py,
# digestflow run FILE.py): identities use the file's stem instead.
SCRIPT_MODULES = frozenset({"__main__", "__digestflow__", "__mp_main__", "<run_path>"})


@lru_cache(maxsize=1)
def _distributions() -> dict[str, list[str]]:
    try:
        return importlib.metadata.packages_distributions()
    except Exception:  # a broken dist-info must not break signing
        return {}


@lru_cache(maxsize=1)
def _site_dirs() -> tuple[str, ...]:
    dirs = set(site.getsitepackages() if hasattr(site, "getsitepackages") else ())
    dirs.add(site.getusersitepackages() if hasattr(site, "getusersitepackages") else "")
    for name in ("purelib", "platlib"):
        dirs.add(sysconfig.get_paths().get(name, ""))
    return tuple(os.path.realpath(d) + os.sep for d in dirs if d)


@cache
def distribution_version(dist: str) -> str:
    """The version in the distribution's metadata headers (read directly: parsing the
    whole METADATA as email costs ~100 ms for a long one)."""
    try:
        text = importlib.metadata.distribution(dist).read_text("METADATA") or \
            importlib.metadata.distribution(dist).read_text("PKG-INFO") or ""
    except Exception:
        return "?"
    for line in text.splitlines():
        if not line.strip():
            break
        if line.lower().startswith("version:"):
            return line.split(":", 1)[1].strip()
    return "?"


@cache
def _installed_at(top: str, path: str | None) -> bool:
    """Whether a distribution named ``top`` is installed where the module lives."""
    try:
        dist = importlib.metadata.distribution(top)
    except Exception:
        return False
    if path is None:
        return True
    base = os.path.realpath(str(dist.locate_file(""))) + os.sep
    return os.path.realpath(path).startswith(base)


@lru_cache(maxsize=4096)
def origin(module: str | None) -> str | tuple[str, str]:
    """``USER``, ``STDLIB`` or ``(distribution name, version)`` for a module name."""
    if not module or module in SCRIPT_MODULES:
        return USER
    top = module.split(".", 1)[0]
    if top in ("builtins", "__future__") or top in sys.stdlib_module_names:
        return STDLIB
    if top in _OWN:
        return ("digestflow", distribution_version("digestflow"))
    mod = sys.modules.get(top)
    if mod is None:
        return (top, "?")  # not importable by that name (a compiled helper's module)
    path = getattr(mod, "__file__", None) or next(iter(getattr(mod, "__path__", ())), None)
    if _installed_at(top, path):
        return (top, distribution_version(top))
    if path and not os.path.realpath(path).startswith(_site_dirs()):
        return USER
    dists = _distributions().get(top)
    if dists:
        name = sorted(dists)[0]
        return (name, distribution_version(name))
    return (top, "?")


def reset() -> None:
    """Forget cached answers (tests that install distributions at run time)."""
    for fn in (_distributions, _site_dirs, distribution_version, _installed_at, origin):
        fn.cache_clear()
