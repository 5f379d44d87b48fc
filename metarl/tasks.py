"""Tasks: points of a family's task distribution, their validation and their batching.

A task is a dict of named parameters. For a single env its values are numpy arrays
(``{"velocity": array(1.7)}``); a batch of ``n`` tasks is a dict of arrays or tensors with a
leading dimension ``n``. Every family declares its task space as a ``gymnasium.spaces.Dict``
whose entries are ``Box``, ``Discrete`` or ``MultiDiscrete`` spaces; ``validate_task`` is the one
place that checks a task against it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

Task = dict[str, np.ndarray]
TaskBatch = dict[str, torch.Tensor]
TaskCheck = Callable[[Task], None]

TASK_SPLITS = ("train", "test", "ood")


def describe_space(space: spaces.Space) -> str:
    """A short human-readable range of one task parameter, e.g. ``[0, 3]`` or ``{0..4}^2``."""
    if isinstance(space, spaces.Box):
        low, high = np.unique(space.low), np.unique(space.high)
        if low.size == 1 and high.size == 1:
            rng = f"[{_fmt(low[0])}, {_fmt(high[0])}]"
        else:
            rng = f"[{np.array2string(space.low, precision=3)}, {np.array2string(space.high, precision=3)}]"
        return rng if space.shape == () else f"{rng}^{'x'.join(map(str, space.shape))}"
    if isinstance(space, spaces.Discrete):
        return f"{{{int(space.start)}..{int(space.start + space.n - 1)}}}"
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.unique(space.nvec)
        if nvec.size == 1:
            return f"{{0..{int(nvec[0]) - 1}}}^{'x'.join(map(str, space.shape))}"
        return f"{{0..nvec-1}}, nvec={space.nvec.tolist()}"
    raise TypeError(f"unsupported task parameter space {space!r}; allowed: Box, Discrete, MultiDiscrete")


def _fmt(x: float) -> str:
    return f"{x:g}" if np.isfinite(x) else ("inf" if x > 0 else "-inf")


def check_task_space(task_space: Any, owner: str) -> spaces.Dict:
    """Return ``task_space`` if it is a usable task space, else raise ``TypeError`` naming ``owner``."""
    if not isinstance(task_space, spaces.Dict) or len(task_space.spaces) == 0:
        raise TypeError(
            f"{owner}: task_space must be a non-empty gymnasium.spaces.Dict, got {task_space!r}"
        )
    for name, sub in task_space.spaces.items():
        if not isinstance(sub, (spaces.Box, spaces.Discrete, spaces.MultiDiscrete)):
            raise TypeError(
                f"{owner}: task parameter {name!r} has space {sub!r}; allowed: Box, Discrete, MultiDiscrete"
            )
    return task_space


def validate_task(task: Mapping[str, Any], task_space: spaces.Dict, extra_check: TaskCheck | None = None) -> Task:
    """Check ``task`` against ``task_space`` and return it as a dict of numpy arrays.

    Raises ``ValueError`` naming the parameter, the value given and the allowed range when a
    parameter is missing, unknown, of the wrong shape, not finite or outside its space.
    ``extra_check`` adds family constraints a space cannot express (e.g. rows on a simplex).
    """
    if not isinstance(task, Mapping):
        raise ValueError(f"a task must be a mapping of parameter names to values, got {type(task).__name__}")
    allowed = list(task_space.spaces)
    unknown = sorted(set(task) - set(allowed))
    missing = [k for k in allowed if k not in task]
    if unknown or missing:
        raise ValueError(
            f"task parameters {sorted(task)} do not match the task space: unknown {unknown}, missing {missing}; "
            f"allowed: {allowed}"
        )
    out: Task = {}
    for name, space in task_space.spaces.items():
        out[name] = _validate_param(name, task[name], space)
    if extra_check is not None:
        extra_check(out)
    return out


def _validate_param(name: str, value: Any, space: spaces.Space) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    arr = np.asarray(value)

    def invalid(problem: str) -> ValueError:
        # the message is built only on failure: formatting arrays dominates validation time otherwise
        shown = np.array2string(arr, precision=4, threshold=8) if arr.ndim else f"{arr.item()!r}"
        return ValueError(f"task parameter {name!r} = {shown} {problem}")

    if arr.shape != space.shape:
        raise invalid(f"has shape {arr.shape}; expected shape {space.shape} in {describe_space(space)}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise invalid(f"is not numeric; allowed: {describe_space(space)}")
    if isinstance(space, spaces.Box):
        arr = arr.astype(space.dtype)
        if not np.all(np.isfinite(arr)):
            raise invalid(f"is not finite; allowed: {describe_space(space)}")
        if np.any(arr < space.low) or np.any(arr > space.high):
            raise invalid(f"is outside the allowed range {describe_space(space)}")
        return arr
    if np.any(arr != np.round(arr)):
        raise invalid(f"is not an integer; allowed: {describe_space(space)}")
    arr = arr.astype(np.int64)
    if not space.contains(arr.astype(space.dtype) if arr.ndim else space.dtype.type(arr)):
        raise invalid(f"is outside the allowed range {describe_space(space)}")
    return arr


def stack_tasks(tasks: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Stack a list of tasks into one batch: a dict of arrays with a leading task dimension."""
    if len(tasks) == 0:
        raise ValueError("cannot stack an empty list of tasks")
    return {k: np.stack([np.asarray(t[k]) for t in tasks]) for k in tasks[0]}


def unstack_tasks(batch: Mapping[str, np.ndarray | torch.Tensor]) -> list[Task]:
    """Split a batch of tasks (arrays or tensors with a leading dimension) into a list of tasks."""
    arrays = {
        k: (v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)) for k, v in batch.items()
    }
    sizes = {k: a.shape[0] for k, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"task batch parameters have different leading sizes: {sizes}")
    n = next(iter(sizes.values()))
    return [{k: a[i].copy() for k, a in arrays.items()} for i in range(n)]


def tasks_to_tensors(
    tasks: Sequence[Mapping[str, np.ndarray]] | Mapping[str, np.ndarray],
    device: torch.device | str = "cpu",
    float_dtype: torch.dtype = torch.float32,
) -> TaskBatch:
    """A batch of tasks as torch tensors on ``device`` (floats as ``float_dtype``, integers as int64)."""
    batch = stack_tasks(tasks) if not isinstance(tasks, Mapping) else tasks
    out: TaskBatch = {}
    for k, v in batch.items():
        t = torch.as_tensor(np.asarray(v))
        out[k] = t.to(device=device, dtype=float_dtype if t.is_floating_point() else torch.int64)
    return out


def tasks_equal(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    """True when two tasks have the same parameters with equal values."""
    return set(a) == set(b) and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
