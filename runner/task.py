"""``@task``: a plain function plus Ray-style options and a cache identity.

Calling a Task runs the function directly (tasks stay unit-testable);
``.bind(...)`` returns a lazy Node (Ray DAG convention); ``.options(...)``
returns a copy with some options replaced.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runner.errors import ValidationError

_RAY_RESOURCE_OPTIONS = ("num_cpus", "num_gpus", "memory", "resources", "accelerator_type")


@dataclass(frozen=True, kw_only=True)
class TaskOptions:
    """Options of one task. Resource options are passed to Ray unchanged."""

    num_cpus: float | None = None
    num_gpus: float | None = None
    memory: int | None = None
    resources: Mapping[str, float] | None = None
    accelerator_type: str | None = None
    num_returns: int = 1
    max_retries: int | None = None
    version: str | None = None
    cache: bool = True
    volatile: bool = False  # depends on the outside world: runs in every run that needs it
    name: str | None = None
    includes: tuple[Any, ...] = ()  # extra objects whose code/values join the identity
    exclude: tuple[str, ...] = ()  # names the code closure leaves out on purpose
    track_packages: bool = True  # installed packages' versions join the identity
    fingerprint: Callable[..., Any] | None = None  # called at signing; result joins the key

    def __post_init__(self) -> None:
        for opt in ("includes", "exclude"):
            value = getattr(self, opt)
            if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
                raise ValidationError(f"{opt} must be a list, got {value!r}")
            object.__setattr__(self, opt, tuple(value))
        if self.fingerprint is not None and not callable(self.fingerprint):
            raise ValidationError(f"fingerprint must be callable, got {self.fingerprint!r}")
        if not all(isinstance(name, str) for name in self.exclude):
            raise ValidationError(f"exclude must list names (str), got {self.exclude!r}")
        if not isinstance(self.num_returns, int) or self.num_returns < 1:
            raise ValidationError(f"num_returns must be an int >= 1, got {self.num_returns!r}")
        if self.version is not None and not isinstance(self.version, str):
            raise ValidationError(f"version must be a string, got {self.version!r}")
        for opt in ("num_cpus", "num_gpus"):
            value = getattr(self, opt)
            if value is not None and (not isinstance(value, (int, float)) or value < 0):
                raise ValidationError(f"{opt} must be a number >= 0, got {value!r}")

    def ray_options(self) -> dict[str, Any]:
        """The subset Ray understands, without unset values."""
        out = {k: getattr(self, k) for k in _RAY_RESOURCE_OPTIONS if getattr(self, k) is not None}
        if "resources" in out:
            out["resources"] = dict(out["resources"])
        if self.max_retries is not None:
            out["max_retries"] = self.max_retries
        return out


class Task:
    """A function registered as a digestflow task."""

    def __init__(self, fn: Callable[..., Any], options: TaskOptions) -> None:
        if not callable(fn):
            raise TypeError(f"@task needs a function, got {type(fn).__name__}")
        self.fn = fn
        self.opts = options
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    @property
    def name(self) -> str:
        """Display name: the ``name`` option, else the function's name."""
        return self.opts.name or self.fn.__name__

    @property
    def num_returns(self) -> int:
        return self.opts.num_returns

    @functools.cached_property
    def bind_plan(self) -> Any:
        """The signature as ``bind`` reads it on its fast path (``runner.node.bind_plan``)."""
        from runner.node import bind_plan

        return bind_plan(self.signature)

    @functools.cached_property
    def identity(self) -> str:
        """Cache identity: module.qualname plus version, or a digest of the code closure."""
        from keys import task_identity

        opts = self.opts
        return task_identity(self.fn, opts.version, includes=opts.includes,
                             exclude=opts.exclude, packages=opts.track_packages)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from runner.hints import check_direct_call

        check_direct_call(self, args, kwargs)  # a forgotten .bind: say so, don't run on nodes
        return self.fn(*args, **kwargs)

    def options(self, **changes: Any) -> Task:
        """A copy of this task with some options replaced."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(TaskOptions)}
        if unknown:
            raise TypeError(f"unknown task option(s) {sorted(unknown)} for {self.name!r}")
        return Task(self.fn, dataclasses.replace(self.opts, **changes))

    def bind(self, *args: Any, **kwargs: Any) -> Any:
        """A lazy Node calling this task on ``args``; arguments may be other nodes."""
        from runner.node import Node

        return Node.create(self, args, kwargs)

    def __repr__(self) -> str:
        return f"<task {self.name} ({self.fn.__module__}.{self.fn.__qualname__})>"

    def __reduce__(self) -> Any:
        return (Task, (self.fn, self.opts))


def task(fn: Callable[..., Any] | None = None, /, **options: Any) -> Any:
    """Decorate a function as a task: ``@task`` or ``@task(num_gpus=1, version="2")``."""
    try:
        opts = TaskOptions(**options)
    except TypeError as err:
        raise TypeError(f"@task: {err}") from None
    if fn is None:
        return lambda f: Task(f, opts)
    return Task(fn, opts)
