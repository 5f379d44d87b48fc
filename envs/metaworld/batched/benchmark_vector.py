"""``MetaWorldBenchmarkVectorEnv``: the batched face of a multi-class Meta-World benchmark.

ML10, ML45, MT10 and MT50 mix classes, and one ``mujoco.batch`` (or MuJoCo Warp model) holds one
model, so the worlds of each class present form one ``MetaWorldVectorEnv`` (a *group*) and the
groups are stepped one after the other within a step: a loop over classes (at most 50), never
over worlds (``benchmarks/metaworld_benchmark_speed.py`` measures what the grouping costs).

Sub-env ``i`` may hold a task of any class, and ``set_tasks`` may move it to another: the groups
are rebuilt to the new counts (~0.1 s per class on the CPU), the worlds that stay in their class
keep their state, and a world that changes class starts a new episode at once (its old episode
ran another model). A task of the same class takes effect at the world's next reset, as on the
one-class face and Farama's ``set_task``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from metarl.core.tasks import Task
from metarl.core.vector import TaskVectorEnv, check_memory, check_num_envs, resolve_device

from .sawyer import OBS
from .sim import sim_class
from .vector import HORIZON, MetaWorldVectorEnv, _world_bytes


def interleaved_tasks(batch: Mapping[str, Any], n: int) -> dict[str, np.ndarray]:
    """``n`` tasks of ``batch`` taking its classes in turn: task ``i`` is of the ``i mod K``-th class
    and is that class's ``(i // K) mod size``-th task."""
    env_class = np.asarray(batch["env_class"]).reshape(-1)
    classes = np.unique(env_class)
    by_class = [np.flatnonzero(env_class == c) for c in classes]
    i = np.arange(n)
    rows = np.array([by_class[k][j % len(by_class[k])] for k, j in zip(i % len(classes), i // len(classes))])
    return {k: np.asarray(v)[rows] for k, v in batch.items()}


def _family(family_cls: Any, family_kwargs: dict[str, Any]) -> Any:
    if family_cls is None:
        from ..family import MetaWorldEnv

        family_cls = MetaWorldEnv
    return family_cls(**family_kwargs)


class MetaWorldBenchmarkVectorEnv(TaskVectorEnv):
    """``num_envs`` worlds of a multi-class Meta-World family (``benchmark="ML10"``, ...), each on
    its own task of any of the family's classes; one batch per class present, stepped together.

    Arguments as ``MetaWorldVectorEnv`` (``backend``, ``num_threads``, ``max_episode_steps``,
    ``autoreset_mode``, ``family_kwargs``), without ``class_name``. Default tasks: the training set's classes in turn
    (``interleaved_tasks``), so every class has a share of the worlds. ``class_one_hot=True``
    appends the class's one-hot to the observation, as the single env. ``info`` holds the Meta-World entries every class present computes
    (``success`` always), as ``(num_envs,)`` tensors.
    """

    def __init__(
        self,
        family_cls: Any = None,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        backend: str = "mujoco",
        max_episode_steps: int | None = None,
        tasks: list[Task] | Mapping[str, Any] | None = None,
        autoreset_mode: str = "same_step",
        num_threads: int = 0,
        check_actions: bool = True,
        **family_kwargs: Any,
    ) -> None:
        sim_cls = sim_class(backend)
        num_envs = check_num_envs(num_envs)
        family = _family(family_cls, family_kwargs)
        sim_device = torch.device("cpu") if backend == "mujoco" else resolve_device(device)
        check_memory(num_envs, _world_bytes(family, family.farama_env.model, sim_cls.dtype), sim_device)
        self._group_kwargs = dict(family_cls=family_cls, device=device, backend=backend, num_threads=num_threads,
                                  autoreset_mode="disabled", check_actions=False,
                                  **{**family_kwargs, "class_one_hot": False})  # fmt: skip
        # Meta-World's OneHotWrapper: the class's one-hot after the 39 numbers (as the single env).
        self._one_hot = bool(getattr(family, "class_one_hot", False))
        self._class_features = torch.empty(0)
        self.backend = backend
        self._groups: dict[int, MetaWorldVectorEnv] = {}
        self._slots: dict[int, torch.Tensor] = {}  # class -> the sub-envs of its group, in world order
        self._obs = torch.empty(0)
        self._info: dict[str, torch.Tensor] = {}
        # Tasks are kept in float64 whatever the backend (a group re-validates the tasks it is given,
        # and float32 rounding can put a bound such as 0.02 outside its box); results are in the
        # backend's dtype.
        self._dtype = sim_cls.dtype
        if tasks is None:
            tasks = interleaved_tasks(family.task_set_batch("train"), num_envs)
        super().__init__(
            family, num_envs, device, HORIZON if max_episode_steps is None else max_episode_steps, tasks,
            autoreset_mode, sim_dtype=torch.float64, sim_device=sim_device, check_actions=check_actions,
        )  # fmt: skip

    @property
    def classes(self) -> dict[str, int]:
        """The classes present and their numbers of worlds."""
        names = self.family.class_names
        return {names[c]: len(slots) for c, slots in sorted(self._slots.items())}

    # ----- tasks: regroup the worlds by class -----------------------------------------------------
    def _on_tasks_changed(self, mask: torch.Tensor) -> None:
        cls = self._tasks["env_class"].long()
        if self._one_hot:
            k = len(self.family.class_names)
            self._class_features = torch.nn.functional.one_hot(cls, k).to(self._dtype)
        if not self._obs.numel():
            self._obs = torch.zeros(self.num_envs, OBS, dtype=self._dtype, device=self.sim_device)
        for c in sorted(set(self._slots) | set(cls.unique().tolist())):
            slots = torch.nonzero(cls == c).flatten()
            old, old_slots = self._groups.pop(c, None), self._slots.pop(c, None)
            if not len(slots):
                continue
            if old is None or not torch.equal(old_slots, slots):
                old = self._regroup(c, slots, old, old_slots)
            # in the group's own dtypes (float32 on warp)
            old._tasks = {k: v[slots].to(old._tasks[k].dtype) for k, v in self._tasks.items()}
            self._groups[c], self._slots[c] = old, slots
            self._obs[slots] = old._observe().to(self._obs)

    def _regroup(self, c: int, slots: torch.Tensor, old: MetaWorldVectorEnv | None,
                 old_slots: torch.Tensor | None) -> MetaWorldVectorEnv:  # fmt: skip
        """A group of class ``c`` for ``slots``: the worlds that were in the old group keep their
        state, the others start an episode of the class now."""
        kept = torch.zeros(len(slots), dtype=torch.bool, device=self.sim_device)
        if old is not None:
            kept = torch.isin(slots, old_slots)
        self._elapsed[slots[~kept]] = 0
        tasks = {k: v[slots] for k, v in self._tasks.items()}
        group = MetaWorldVectorEnv(num_envs=len(slots), tasks=tasks, class_name=self.family.class_names[c],
                                   **self._group_kwargs)  # fmt: skip
        group._reset_state(torch.ones(len(slots), dtype=torch.bool, device=self.sim_device))
        if kept.any():
            rows = torch.searchsorted(old_slots, slots[kept])
            state = group.get_state()
            for key, value in old.get_state().items():
                state[key][kept] = value[rows]
            group.set_state(state)
            group._obs[kept] = old._observe()[rows]
        return group

    # ----- episodes -------------------------------------------------------------------------------
    def _reset_state(self, mask: torch.Tensor) -> None:
        obs = self._obs.clone()  # a new tensor: the one returned before (final_obs) stays as it was
        for c, group in self._groups.items():
            slots = self._slots[c]
            sub = mask[slots]
            if sub.any():
                group._reset_state(sub.to(group._observe().device))
                obs[slots] = group._observe().to(obs)
        self._obs = obs

    def _step_state(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        reward = torch.empty(self.num_envs, dtype=self._dtype, device=self.sim_device)
        obs = torch.empty_like(self._obs)
        infos = []
        for c, group in self._groups.items():
            slots = self._slots[c]
            group_reward, _ = group._step_state(actions[slots].to(group._observe().device))
            reward[slots] = group_reward.to(reward)
            obs[slots] = group._observe().to(obs)
            infos.append((slots, group._info))
        self._obs = obs
        common = set.intersection(*(set(info) for _, info in infos))
        self._info = {k: torch.empty(self.num_envs, dtype=self._dtype, device=self.sim_device) for k in common}
        for slots, info in infos:
            for k in common:
                self._info[k][slots] = info[k].to(self._info[k])
        return reward, torch.zeros(self.num_envs, dtype=torch.bool, device=self.sim_device)

    def step(self, actions: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Step every world; ``info`` adds the Meta-World entries common to the classes present."""
        obs, reward, terminated, truncated, info = super().step(actions)
        info.update({k: v.to(self.device) for k, v in self._info.items()})
        return obs, reward, terminated, truncated, info

    def _observe(self) -> torch.Tensor:
        return torch.cat((self._obs, self._class_features), dim=-1) if self._one_hot else self._obs

