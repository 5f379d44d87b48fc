"""Tasks: points of a family's task distribution, their validation and their batching.

A task is a dict of named parameters. For a single env its values are numpy arrays
(``{"velocity": array(1.7)}``); a batch of ``n`` tasks is a dict of arrays or tensors with a
leading dimension ``n``. Every family declares its task space as a ``gymnasium.spaces.Dict``
whose entries are ``Box``, ``Discrete`` or ``MultiDiscrete`` spaces; ``validate_task`` (one task)
and ``validate_task_batch`` (a batch, one vectorised check per parameter) check tasks against it,
through the same per-parameter checks.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

Task = dict[str, np.ndarray]
TaskCheck = Callable[[Task], None]
#: A family's vectorised constraint check of a validated batch (dict of arrays, leading task dim).
TaskBatchCheck = Callable[[dict[str, np.ndarray]], None]

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
    """Check ``task`` against ``task_space`` and return it as a dict of numpy arrays (fresh copies).

    Raises ``ValueError`` naming the parameter, the value given and the allowed range when a
    parameter is missing, unknown, of the wrong shape, not finite or outside its space.
    ``extra_check`` adds family constraints a space cannot express (e.g. rows on a simplex).
    """
    if not isinstance(task, Mapping):
        raise ValueError(f"a task must be a mapping of parameter names to values, got {type(task).__name__}")
    _check_names(task, task_space)
    # One task is checked as a batch of one: a single implementation of every check.
    out: Task = {}
    for name, space in task_space.spaces.items():
        value = _as_array(task[name])
        if value.shape != space.shape:
            expected = f"expected shape {space.shape} in {describe_space(space)}"
            raise param_error(name, value[None], 0, f"has shape {value.shape}; {expected}")
        out[name] = _check_values(name, value[None], space)[0]
    if extra_check is not None:
        extra_check(out)
    return out


def validate_task_batch(
    batch: Mapping[str, Any], task_space: spaces.Dict, extra_check: TaskBatchCheck | None = None
) -> dict[str, np.ndarray]:
    """Check a batch of tasks (a dict of arrays or tensors with a leading dim ``n``) against
    ``task_space`` with one vectorised numpy check per parameter; return it as fresh numpy arrays
    (floats in the space's dtype, integers as int64).

    Raises ``ValueError`` as ``validate_task`` does, also naming the offending task's index in the
    batch. ``extra_check`` takes the validated batch (family constraints, vectorised).
    """
    if not isinstance(batch, Mapping):
        raise TypeError(f"a task batch must be a mapping of parameter names to arrays, got {type(batch).__name__}")
    _check_names(batch, task_space)
    arrays = {name: _as_array(batch[name]) for name in task_space.spaces}
    scalar = [k for k, a in arrays.items() if a.ndim == 0]
    if scalar:
        raise ValueError(f"task batch parameter {scalar[0]!r} is a scalar; a batch needs a leading task dimension")
    sizes = {k: a.shape[0] for k, a in arrays.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"task batch parameters have different leading sizes (numbers of tasks): {sizes}")
    n = next(iter(sizes.values()))
    out: dict[str, np.ndarray] = {}
    for name, space in task_space.spaces.items():
        arr = arrays[name]
        if arr.shape[1:] != space.shape:
            raise ValueError(
                f"task batch parameter {name!r} has shape {arr.shape}; expected {(n, *space.shape)} "
                f"({n} tasks of shape {space.shape} in {describe_space(space)})"
            )
        out[name] = _check_values(name, arr, space)
    if extra_check is not None and n > 0:
        extra_check(out)
    return out


def stack_task_list(tasks: Sequence[Mapping[str, Any]], task_space: spaces.Dict) -> dict[str, np.ndarray]:
    """A list of tasks as one unvalidated batch (a dict of arrays), ready for ``validate_task_batch``.

    Names and shapes are checked task by task (a Python loop: a list is already one object per
    task); a task that does not fit is named by its index with ``validate_task``'s message.
    """
    if len(tasks) == 0:
        raise ValueError("cannot stack an empty list of tasks")
    for i, task in enumerate(tasks):
        if not isinstance(task, Mapping):
            raise TypeError(f"task {i} of the list is a {type(task).__name__}; a task is a mapping of parameters")
    try:
        return {k: np.stack([_as_array(t[k]) for t in tasks]) for k in task_space.spaces}
    except (KeyError, ValueError):
        for i, task in enumerate(tasks):  # find the task that does not fit, for its message
            try:
                validate_task(task, task_space)
            except ValueError as err:
                raise ValueError(f"task {i} of the list: {err}") from None
        raise


def _check_names(task: Mapping[str, Any], task_space: spaces.Dict) -> None:
    allowed = list(task_space.spaces)
    unknown = sorted(map(str, set(task) - set(allowed)))
    missing = [k for k in allowed if k not in task]
    if unknown or missing:
        raise ValueError(
            f"task parameters {sorted(map(str, task))} do not match the task space: unknown {unknown}, "
            f"missing {missing}; allowed: {allowed}"
        )


def _as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().numpy()
    return np.asarray(value)


def param_error(name: str, values: np.ndarray, index: int, problem: str) -> ValueError:
    """The ``ValueError`` for task parameter ``name`` of task ``index`` in ``values`` (an array with
    a leading task dim), naming the value and, in a batch of more than one task, the index; used by
    this module and by families' batched checks (``MetaEnv._check_task_batch``). Built only on
    failure: formatting arrays would dominate validation time otherwise."""
    value = values[index]
    shown = np.array2string(value, precision=4, threshold=8) if value.ndim else f"{value.item()!r}"
    where = f" (task {index} of the batch)" if len(values) > 1 else ""
    return ValueError(f"task parameter {name!r} = {shown}{where} {problem}")


def _first(bad: np.ndarray) -> int:
    """Index of the first task with any bad entry (``bad`` has a leading task dim)."""
    return int(np.argmax(bad.reshape(len(bad), -1).any(axis=1)))


def _check_values(name: str, arr: np.ndarray, space: spaces.Space) -> np.ndarray:
    """Numeric, finite, integer and range checks of a ``(n, *space.shape)`` array, vectorised;
    returns a fresh array (the space's float dtype, or int64)."""
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_) or np.issubdtype(arr.dtype, np.complexfloating):
        raise param_error(name, arr, 0, f"is not numeric (dtype {arr.dtype}); allowed: {describe_space(space)}")
    if isinstance(space, spaces.Box):
        arr = arr.astype(space.dtype)
        if _within(arr, space.low, space.high):
            return arr
        bad = ~np.isfinite(arr)
        if bad.any():
            raise param_error(name, arr, _first(bad), f"is not finite; allowed: {describe_space(space)}")
        bad = (arr < space.low) | (arr > space.high)
        if bad.any():
            raise param_error(name, arr, _first(bad), f"is outside the allowed range {describe_space(space)}")
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        bad = arr != np.round(arr)  # NaN and inf included
        if bad.any():
            raise param_error(name, arr, _first(bad), f"is not an integer; allowed: {describe_space(space)}")
    arr = arr.astype(np.int64)
    if isinstance(space, spaces.Discrete):
        low, high = np.int64(space.start), np.int64(space.start + space.n - 1)
    else:  # MultiDiscrete
        low, high = space.start.astype(np.int64), (space.start + space.nvec - 1).astype(np.int64)
    if not _within(arr, low, high):
        bad = (arr < low) | (arr > high)
        raise param_error(name, arr, _first(bad), f"is outside the allowed range {describe_space(space)}")
    return arr


def _within(arr: np.ndarray, low: np.ndarray, high: np.ndarray) -> bool:
    """Whether every entry of ``arr`` is finite and in ``[low, high]`` (bounds broadcast per task).

    Fast path for the common uniform bounds: the batch's global min and max against them, two
    reductions instead of elementwise masks over the whole batch (NaN propagates into min/max and
    fails the comparison). ``False`` sends the caller to the elementwise checks for the message.
    """
    if arr.size == 0:
        return True
    lows, highs = np.unique(low), np.unique(high)
    if lows.size == 1 and highs.size == 1:
        lo, hi = arr.min(), arr.max()
        return bool(np.isfinite(lo) and np.isfinite(hi) and lo >= lows[0] and hi <= highs[0])
    return bool(np.all(np.isfinite(arr)) and np.all(arr >= low) and np.all(arr <= high))


class TaskBatch(dict):
    """``n`` tasks as tensors with a leading dim ``n``, one entry per task parameter (``dict[str, Tensor]``).

    A plain dict of tensors is accepted wherever a ``TaskBatch`` is. A batch that a batched env made
    (``TaskVectorEnv.sample_task_batch``, ``task_set_batch``, ``select`` of one of those) also
    remembers the family that validated it (``validated_by``), so that env's ``set_tasks`` takes it
    as it is: tasks are checked once, where they enter, and stay tensors on the device after that.
    Its entries cannot be replaced (a validated batch stays valid); ``select`` and ``to`` make new batches.
    """

    def __init__(self, tensors: Mapping[str, torch.Tensor] = (), validated_by: Any = None) -> None:
        super().__init__(tensors)
        self.validated_by = validated_by

    def _read_only(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError("a TaskBatch is read-only; build a new one (select, to, or TaskBatch({...}))")

    __setitem__ = __delitem__ = update = pop = popitem = clear = setdefault = _read_only  # type: ignore[assignment]

    @property
    def n(self) -> int:
        """The number of tasks (the leading dim)."""
        return len(next(iter(self.values()))) if self else 0

    def select(self, index: torch.Tensor | Sequence[int] | slice) -> TaskBatch:
        """Tasks ``index`` (indices, a bool mask or a slice; repeats allowed), still validated."""
        return TaskBatch({k: v[_index_for(v, index)] for k, v in self.items()}, self.validated_by)

    def to(self, device: torch.device | str, float_dtype: torch.dtype | None = None) -> TaskBatch:
        """The batch on ``device`` (floats as ``float_dtype`` when given), still validated."""
        def move(v: torch.Tensor) -> torch.Tensor:
            return v.to(device, dtype=float_dtype) if float_dtype is not None and v.is_floating_point() else v.to(device)

        return TaskBatch({k: move(v) for k, v in self.items()}, self.validated_by)

    def tolist(self) -> list[Task]:
        """One task (a dict of numpy arrays) per row, for files and reports."""
        return unstack_tasks(self)


def _index_for(value: torch.Tensor, index: Any) -> Any:
    return index.to(value.device) if isinstance(index, torch.Tensor) else index


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
    return [{k: np.array(a[i]) for k, a in arrays.items()} for i in range(n)]  # 0-d arrays, not scalars


def tasks_to_tensors(
    tasks: Sequence[Mapping[str, np.ndarray]] | Mapping[str, np.ndarray | torch.Tensor],
    device: torch.device | str = "cpu",
    float_dtype: torch.dtype = torch.float32,
) -> TaskBatch:
    """A batch of tasks as torch tensors on ``device`` (floats as ``float_dtype``, integers as int64)."""
    batch = stack_tasks(tasks) if not isinstance(tasks, Mapping) else tasks
    out: dict[str, torch.Tensor] = {}
    for k, v in batch.items():
        t = v if isinstance(v, torch.Tensor) else torch.as_tensor(np.asarray(v))
        out[k] = t.to(device=device, dtype=float_dtype if t.is_floating_point() else torch.int64)
    return TaskBatch(out, batch.validated_by if isinstance(batch, TaskBatch) else None)


def tasks_equal(a: Mapping[str, np.ndarray], b: Mapping[str, np.ndarray]) -> bool:
    """True when two tasks have the same parameters with equal values."""
    return set(a) == set(b) and all(np.array_equal(np.asarray(a[k]), np.asarray(b[k])) for k in a)
