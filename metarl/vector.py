"""The batched face of a family: a ``gymnasium.vector.VectorEnv`` of torch tensors on a device.

Each sub-environment holds its own task (``set_tasks``); resets never change tasks, since a
meta-RL trial is several episodes on one task. Autoreset follows gymnasium's modes
(``metadata["autoreset_mode"]``): ``SAME_STEP`` (default) returns the first observation of the
next episode in the step that ended one, with the last observation in ``info["final_obs"]``
(rows valid where ``info["_final_obs"]``); ``DISABLED`` leaves finished sub-envs to the caller,
who resets them with ``reset(options={"reset_mask": mask})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from .analytic import AnalyticEnv, action_tensor
from .meta_env import MetaEnv
from .tasks import Task, TaskBatch, stack_tasks, tasks_to_tensors, unstack_tasks

AUTORESET_MODES = {"same_step": AutoresetMode.SAME_STEP, "disabled": AutoresetMode.DISABLED}


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was requested but CUDA is not available; allowed: 'cpu', 'auto'")
    return device


def check_num_envs(num_envs: Any) -> int:
    """``num_envs`` as an int; ``ValueError`` unless it is a positive integer."""
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    return int(num_envs)


def mask_tensor(mask: Any, num_envs: int, device: torch.device) -> torch.Tensor:
    """A boolean ``(num_envs,)`` mask on ``device`` (``None`` selects every sub-env)."""
    if mask is None:
        return torch.ones(num_envs, dtype=torch.bool, device=device)
    out = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask, device=device)
    if out.shape != (num_envs,) or out.dtype != torch.bool:
        raise ValueError(f"env mask must be a bool array of shape ({num_envs},), got {out.dtype} {tuple(out.shape)}")
    return out


class TaskVectorEnv(VectorEnv):
    """Base of the batched faces: tasks per sub-env, episode clocks, autoreset and seeding.

    Subclasses implement ``_reset_state(mask)`` (start new episodes where ``mask``),
    ``_step_state(actions)`` -> (reward, terminated), ``_observe()`` and ``_on_tasks_changed``.
    """

    def __init__(
        self,
        family: MetaEnv,
        num_envs: int,
        device: str | torch.device,
        max_episode_steps: int | None,
        tasks: list[Task] | Mapping[str, Any] | None,
        autoreset_mode: str,
        sim_dtype: torch.dtype = torch.float32,
        sim_device: str | torch.device | None = None,
    ) -> None:
        self.num_envs = check_num_envs(num_envs)
        if autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode must be one of {list(AUTORESET_MODES)}, got {autoreset_mode!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        self.family = family
        self.device = resolve_device(device)
        self.max_episode_steps = max_episode_steps
        self._sim_dtype = sim_dtype  # float dtype of the simulation: tasks and actions take it
        # Where the simulation (its state, tasks and RNG) lives; results are moved to self.device.
        self.sim_device = torch.device(sim_device) if sim_device is not None else self.device
        self.metadata = {"autoreset_mode": AUTORESET_MODES[autoreset_mode]}
        self.task_space = family.task_space
        self.single_observation_space = family.observation_space
        self.single_action_space = family.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._elapsed = torch.zeros(self.num_envs, dtype=torch.int64, device=self.sim_device)
        self._generator: torch.Generator | None = None
        self._needs_reset = True
        if tasks is None:  # sub-env i starts on training task i (cycling through the set)
            train = family.task_set("train")
            tasks = [train[i % len(train)] for i in range(self.num_envs)]
        self._tasks: TaskBatch = {}
        self.set_tasks(tasks)

    # ----- tasks ----------------------------------------------------------------------------------
    def set_tasks(self, tasks: list[Task] | Mapping[str, Any], env_mask: Any = None) -> None:
        """Give the selected sub-envs new tasks (a list, or a dict of arrays/tensors with a leading
        dim equal to the number of selected sub-envs). Takes effect from the next step; the
        episodes in progress are not reset."""
        mask = mask_tensor(env_mask, self.num_envs, self.sim_device)
        listed = unstack_tasks(tasks) if isinstance(tasks, Mapping) else list(tasks)
        selected = int(mask.sum())
        if len(listed) != selected:
            raise ValueError(f"got {len(listed)} tasks for {selected} selected sub-envs; give one task per sub-env")
        valid = tasks_to_tensors(
            stack_tasks([self.family.validate_task(t) for t in listed]), self.sim_device, self._sim_dtype
        )
        if not self._tasks:
            self._tasks = valid
        else:
            for k, v in valid.items():
                self._tasks[k][mask] = v
        self._on_tasks_changed(mask)

    def get_tasks(self) -> TaskBatch:
        """The tasks of all sub-envs, a dict of tensors with leading dim ``num_envs`` (a copy)."""
        return {k: v.to(self.device, copy=True) for k, v in self._tasks.items()}

    def task_set(self, split: str) -> list[Task]:
        """The family's fixed task set ``split`` (see ``MetaEnv.task_set``)."""
        return self.family.task_set(split)

    def sample_tasks(self, n: int, seed: int | None = None, distribution: str = "train") -> list[Task]:
        """Draw ``n`` tasks from the family's distribution (see ``MetaEnv.sample_tasks``)."""
        return self.family.sample_tasks(n, seed, distribution)

    # ----- episodes -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict]:
        """Start new episodes in every sub-env (or where ``options["reset_mask"]``)."""
        if seed is not None:
            self._np_random, self._np_random_seed = np.random.default_rng(seed), seed
        if seed is not None or self._generator is None:
            # Same derivation as the single env, so one sub-env with seed s equals the single env.
            self._generator = torch.Generator(self.sim_device).manual_seed(int(self.np_random.integers(2**62)))
        mask = mask_tensor((options or {}).get("reset_mask"), self.num_envs, self.sim_device)
        self._reset_state(mask)
        self._elapsed[mask] = 0
        self._needs_reset = False
        return self._observe().to(self.device), {}

    def step(self, actions: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Step every sub-env; returns tensors ``obs, reward, terminated, truncated, info``."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        act = action_tensor(actions, self.single_action_space, self.num_envs, self.sim_device, self._sim_dtype)
        reward, terminated = self._step_state(act)
        self._elapsed += 1
        if self.max_episode_steps is None:
            truncated = torch.zeros_like(terminated)
        else:
            truncated = self._elapsed >= self.max_episode_steps  # as gymnasium's TimeLimit
        obs, info = self._observe(), {}
        if self.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP:
            done = terminated | truncated
            info = {"final_obs": obs, "_final_obs": done}
            self._reset_state(done)
            self._elapsed[done] = 0
            obs = self._observe()
        if self.sim_device != self.device:
            obs, reward, terminated, truncated = (t.to(self.device) for t in (obs, reward, terminated, truncated))
            info = {k: v.to(self.device) for k, v in info.items()}
        return obs, reward, terminated, truncated, info

    # ----- subclass hooks -------------------------------------------------------------------------
    def _on_tasks_changed(self, mask: torch.Tensor) -> None:
        """React to new tasks of the sub-envs in ``mask`` (e.g. write model fields)."""

    def _reset_state(self, mask: torch.Tensor) -> None:
        raise NotImplementedError

    def _step_state(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _observe(self) -> torch.Tensor:
        raise NotImplementedError


class AnalyticVectorEnv(TaskVectorEnv):
    """Batched face of an analytic family: its torch dynamics over ``num_envs`` sub-envs.

    Built by ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point",
    device=...)``; extra keyword arguments go to the family (e.g. ``num_arms``).
    """

    def __init__(
        self,
        family_cls: type[AnalyticEnv],
        num_envs: int,
        device: str | torch.device = "cpu",
        max_episode_steps: int | None = None,
        tasks: list[Task] | Mapping[str, Any] | None = None,
        autoreset_mode: str = "same_step",
        **family_kwargs: Any,
    ) -> None:
        family = family_cls(**family_kwargs)
        self.dynamics = family.dynamics
        self._state: torch.Tensor | None = None
        super().__init__(family, num_envs, device, max_episode_steps, tasks, autoreset_mode)

    def _reset_state(self, mask: torch.Tensor) -> None:
        fresh = self.dynamics.initial_state(self._tasks, self._generator)
        if self._state is None:
            self._state = fresh
        else:
            self._state[mask] = fresh[mask]

    def _step_state(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._state, reward, terminated = self.dynamics.step(self._state, actions, self._tasks, self._generator)
        return reward, terminated

    def _observe(self) -> torch.Tensor:
        return self.dynamics.observe(self._state, self._tasks)
