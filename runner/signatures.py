"""What ``help()`` shows for ``run`` and ``task``: their real options.

``run`` forwards ``**options`` to ``run_async`` and ``task`` takes
``**options`` for ``TaskOptions``; without this, ``help(run)`` and
``help(task)`` would show only ``**options``. The signatures and option
lists are derived from the code they describe, so they cannot go stale.
"""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

__all__ = ["document_api"]

# One line per task option; an option missing here is still listed, with its type.
_TASK_OPTIONS = {
    "num_cpus": "CPUs the task needs (Ray's option; default 1)",
    "num_gpus": "GPUs the task needs (Ray's option); on a GPU-less embedded Ray it runs "
                "on the CPU with a warning",
    "memory": "bytes of memory to reserve (Ray's option)",
    "resources": "custom resources, e.g. {'TPU': 1} (Ray's option)",
    "accelerator_type": "run only on nodes with this accelerator (Ray's option)",
    "num_returns": "number of outputs; node[i] or unpacking picks one",
    "max_retries": "retries after a worker crash (Ray's option)",
    "version": "explicit cache identity: change it to invalidate old results",
    "cache": "False: never stored, runs whenever a node that needs it runs",
    "name": "display name (default: the function's name); node ids are <name>-<n>",
    "includes": "extra objects whose code/values join the task's identity",
    "exclude": "names the code closure leaves out on purpose",
    "track_packages": "installed packages' versions join the identity (default True)",
    "fingerprint": "a function called at signing; its result joins the key",
}


def _task_options() -> list[dataclasses.Field[Any]]:
    from runner.task import TaskOptions

    return list(dataclasses.fields(TaskOptions))


def _option_lines() -> str:
    lines = []
    for f in _task_options():
        default = "" if f.default is dataclasses.MISSING else f" = {f.default!r}"
        lines.append(f"    {f.name}{default}: {_TASK_OPTIONS.get(f.name, str(f.type))}")
    return "\n".join(lines)


def document_api() -> None:
    """Give ``run`` and ``task`` the signatures and docstrings ``help()`` should show."""
    from runner.run import run, run_async
    from runner.task import task

    sig = inspect.signature(run_async)
    run.__signature__ = sig.replace(return_annotation="Result")  # type: ignore[attr-defined]
    run.__doc__ = (inspect.cleandoc(run.__doc__ or "") + "\n\n"
                   + inspect.cleandoc(run_async.__doc__ or ""))
    params = [inspect.Parameter("fn", inspect.Parameter.POSITIONAL_ONLY, default=None)]
    params += [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY,
                                 default=None if f.default is dataclasses.MISSING else f.default,
                                 annotation=f.type)
               for f in _task_options()]
    task.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    task.__doc__ = inspect.cleandoc(task.__doc__ or "") + "\n\nOptions:\n" + _option_lines()
