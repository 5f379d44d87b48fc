"""Analytic families: dynamics written once as batched torch functions, shared by every face.

An ``AnalyticDynamics`` defines observation, reward and termination for a batch of ``n``
sub-environments, each with its own task. The single ``gymnasium.Env`` face (``AnalyticEnv``)
runs it with ``n = 1``; the batched face runs the same code with ``n`` in the thousands.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch
from gymnasium import spaces

from metarl.core.meta_env import MetaEnv
from metarl.core.tasks import Task, TaskBatch, describe_space, tasks_to_tensors


class StepResult(NamedTuple):
    """Result of one batched step: next state, reward ``(n,)`` and termination flags ``(n,)``."""

    state: torch.Tensor
    reward: torch.Tensor
    terminated: torch.Tensor


class AnalyticDynamics(ABC):
    """Batched torch definition of an analytic family. All tensors have a leading batch dim."""

    observation_space: spaces.Space
    action_space: spaces.Space

    @abstractmethod
    def initial_state(self, tasks: TaskBatch, generator: torch.Generator) -> torch.Tensor:
        """States at the start of an episode, one per task."""

    @abstractmethod
    def step(self, state: torch.Tensor, action: torch.Tensor, tasks: TaskBatch, generator: torch.Generator) -> StepResult:
        """Advance every sub-environment by one step."""

    @abstractmethod
    def observe(self, state: torch.Tensor, tasks: TaskBatch) -> torch.Tensor:
        """Observations of ``state`` (task information only where the family reveals it)."""


def action_tensor(
    action: Any,
    space: spaces.Space,
    n: int | None,
    device: torch.device | str = "cpu",
    dtype: torch.dtype = torch.float32,
    check_values: bool = True,
) -> torch.Tensor:
    """Check actions and return them as a ``(n, *shape)`` tensor: ``dtype`` for ``Box``, int64 for
    ``Discrete``. ``n=None``: one action of a single env (shape ``space.shape``), returned as a
    batch of one. The one action check of every face (single, analytic batched, MuJoCo batched).

    Always checked (free: no look at the values): the shape must be exactly ``(n, *space.shape)``
    (``(n,)`` for ``Discrete``), never reshaped, and the dtype numeric (no bool, complex, object).
    With ``check_values``: ``Discrete`` actions must be integers (integral floats such as ``2.0``
    pass) in ``{start..start+n-1}``; ``Box`` actions must be finite (values outside the bounds are
    clipped by the dynamics, not rejected). A failed check is a ``ValueError`` naming the sub-env,
    the value and what is allowed. The values are checked where they are: for a CUDA tensor the
    check is one device->host synchronisation (one reduction read back); host arrays cost none.
    """
    t = action if isinstance(action, torch.Tensor) else _host_tensor(action)
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{'actions' if n else 'action'} of dtype {t.dtype} are not numbers; expected {_expected(space)}")
    expected = space.shape if n is None else (n, *space.shape)
    if tuple(t.shape) != expected:
        batch = "" if n is None else f" (num_envs={n} x the single action shape {space.shape})"
        raise ValueError(f"action has shape {tuple(t.shape)}; expected shape {expected}{batch} for {_expected(space)}")
    if isinstance(space, spaces.Discrete):
        if check_values:
            _check_discrete(t, space, n)
        out = t.to(device=device, dtype=torch.int64)
    else:
        # A sum propagates NaN and inf: one cheap reduction (20x faster than an elementwise test
        # on the CPU), and the elementwise test only when the sum is not finite (huge finite values
        # can overflow it; the elementwise test then clears them).
        if check_values and t.is_floating_point() and not bool(torch.isfinite(t.sum())):
            bad = ~torch.isfinite(t)
            if bool(bad.any()):
                raise ValueError(
                    f"{_label(t, bad, n)} is not finite; Box actions must be finite numbers "
                    f"(values outside {describe_space(space)} are clipped)"
                )
        out = t.to(device=device, dtype=dtype)
    return out.reshape(1, *space.shape) if n is None else out


def _host_tensor(action: Any) -> torch.Tensor:
    arr = np.asarray(action)
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"action {arr!r} is not numeric (dtype {arr.dtype}); actions are numbers")
    # torch views numpy memory without a copy, except with negative strides, which it cannot view.
    return torch.as_tensor(arr.copy() if any(st < 0 for st in arr.strides) else arr)


def _expected(space: spaces.Space) -> str:
    if isinstance(space, spaces.Discrete):
        return f"{space} (integers in {describe_space(space)})"
    return f"{space}"


def _label(t: torch.Tensor, bad: torch.Tensor, n: int | None) -> str:
    """``"action <value>"`` of the first offending entry, naming its sub-env in a batch (built only
    on failure)."""
    if n is None:
        return f"action {_show(t)}"
    i = int(bad.reshape(n, -1).any(dim=1).nonzero()[0])
    return f"action {_show(t[i])} of sub-env {i}"


def _show(t: torch.Tensor) -> str:
    return np.array2string(t.detach().cpu().numpy(), precision=4, threshold=8) if t.ndim else f"{t.item()!r}"


def _check_discrete(t: torch.Tensor, space: spaces.Discrete, n: int | None) -> None:
    low, high = int(space.start), int(space.start + space.n)
    if t.is_floating_point():
        bad = (t < low) | (t >= high) | (t != t.round())  # NaN and inf included
        if not bool(bad.any()):  # the only synchronisation of the check on CUDA
            return
    else:
        # Integers: the batch's min and max (one fast reduction, read back together: the only
        # synchronisation on CUDA); the elementwise mask only to name the offender.
        lo, hi = torch.stack(torch.aminmax(t.reshape(-1))).tolist() if t.numel() else (low, low)
        if lo >= low and hi < high:
            return
        bad = (t < low) | (t >= high)
    i = None if n is None else int(bad.nonzero()[0])
    value = (t if i is None else t[i]).item()
    fractional = isinstance(value, float) and not value.is_integer()
    problem = "is not an integer" if fractional else "is outside the allowed range"
    where = "" if i is None else f" of sub-env {i}"
    raise ValueError(f"action {value!r}{where} {problem}; allowed: {describe_space(space)} ({space})")


class AnalyticEnv(MetaEnv):
    """Single-env face of an analytic family: its batched torch dynamics with a batch of one."""

    metadata = {"render_modes": []}

    def __init__(self, dynamics: AnalyticDynamics, task: Mapping[str, Any] | None = None) -> None:
        self.dynamics = dynamics
        self.observation_space = dynamics.observation_space
        self.action_space = dynamics.action_space
        self._generator: torch.Generator | None = None
        self._state: torch.Tensor | None = None
        self._init_task(task)

    def _apply_task(self, task: Task) -> None:
        self._task_tensors = tasks_to_tensors([task])

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode; ``options={"task": ...}`` switches task first (``TypeError`` if
        ``options`` is not a dict, ``ValueError`` if the task is invalid)."""
        super().reset(seed=seed)
        self._reset_task_option(options)
        if seed is not None or self._generator is None:
            # The torch stream is derived from gymnasium's np_random, so reset(seed=s) fixes both.
            self._generator = torch.Generator().manual_seed(int(self.np_random.integers(2**62)))
        self._state = self.dynamics.initial_state(self._task_tensors, self._generator)
        return self._observation(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Advance one step. ``action`` is checked as by the batched faces (``action_tensor``):
        exact shape, numeric, integer in range (Discrete) or finite (Box); else ``ValueError``."""
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        act = action_tensor(action, self.action_space, None)
        self._state, reward, terminated = self.dynamics.step(self._state, act, self._task_tensors, self._generator)
        return self._observation(), float(reward[0]), bool(terminated[0]), False, {}

    def _observation(self) -> np.ndarray:
        return self.dynamics.observe(self._state, self._task_tensors)[0].numpy()


def rand_like(like: torch.Tensor, generator: torch.Generator, normal: bool = False) -> torch.Tensor:
    """Uniform [0, 1) (or standard normal) draws shaped like ``like``, from ``generator``'s stream.

    Drawn on the generator's device so one seeded stream serves CPU and CUDA batches alike.
    """
    draw = torch.randn if normal else torch.rand
    return draw(like.shape, generator=generator, dtype=like.dtype, device=generator.device).to(like.device)
