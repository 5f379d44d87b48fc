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

from .meta_env import MetaEnv
from .tasks import Task, TaskBatch, tasks_to_tensors


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
    action: Any, space: spaces.Space, n: int, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Actions as a ``(n, *shape)`` tensor: ``dtype`` for ``Box``, int64 for ``Discrete``."""
    if isinstance(space, spaces.Discrete):
        return torch.as_tensor(action, dtype=torch.int64, device=device).reshape(n)
    return torch.as_tensor(action, dtype=dtype, device=device).reshape(n, *space.shape)


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
        super().reset(seed=seed)
        self._reset_task_option(options)
        if seed is not None or self._generator is None:
            # The torch stream is derived from gymnasium's np_random, so reset(seed=s) fixes both.
            self._generator = torch.Generator().manual_seed(int(self.np_random.integers(2**62)))
        self._state = self.dynamics.initial_state(self._task_tensors, self._generator)
        return self._observation(), {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        act = action_tensor(action, self.action_space, 1)
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
