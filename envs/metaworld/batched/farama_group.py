"""``FaramaGroup``: the worlds of a class without a batched face, inside a multi-class batch.

One class of the 50 (stick-push: its ``success`` reads per-pad contact forces, which a
``mujoco.batch`` does not expose) has no batched definition. So that ML45 and MT50 still run as one
batched env, its worlds are Farama's own envs (the family's single env, one per world, stepped
in a loop over that class's worlds only) behind the interface ``MetaWorldBenchmarkVectorEnv``
drives its groups with: ``_reset_state(mask)``, ``_step_state(actions)``, ``_observe()``,
``_info``, ``num_envs``, ``class_name``; tasks reach its envs through ``assign``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

OBS = 39


class FaramaGroup:
    """``len(envs)`` worlds of one class, each a family single env (``family.MetaWorldEnv``) on
    its task. ``envs`` may come from an earlier group (worlds that stay in their class keep
    their episode)."""

    def __init__(self, class_name: str, envs: list[Any], dtype: torch.dtype) -> None:
        self.class_name, self.envs, self.dtype = class_name, envs, dtype
        self.num_envs = len(envs)
        self.info_keys = envs[0].info_keys
        self._obs = torch.zeros(self.num_envs, OBS, dtype=dtype)
        self._info: dict[str, torch.Tensor] = {}

    @classmethod
    def build(cls, class_name: str, tasks: Mapping[str, torch.Tensor], make_family: Any, dtype: torch.dtype) -> FaramaGroup:
        """A group of new worlds on ``tasks`` (rows), each started on its task."""
        n = len(next(iter(tasks.values())))
        envs = [make_family() for _ in range(n)]
        group = cls(class_name, envs, dtype)
        group.assign(tasks, torch.ones(n, dtype=torch.bool))
        group._reset_state(torch.ones(n, dtype=torch.bool))
        return group

    def assign(self, tasks: Mapping[str, torch.Tensor], mask: torch.Tensor) -> None:
        """Give the worlds in ``mask`` their rows of ``tasks`` (effective at their next reset, as Farama)."""
        for i in torch.nonzero(mask).flatten().tolist():
            self.envs[i].set_task({k: v[i].numpy() for k, v in tasks.items()})

    def _reset_state(self, mask: torch.Tensor) -> None:
        obs = self._obs.clone()
        for i in torch.nonzero(mask).flatten().tolist():
            obs[i] = torch.as_tensor(self.envs[i].reset()[0][:OBS], dtype=self.dtype)
        self._obs = obs

    def _step_state(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        reward = torch.empty(self.num_envs, dtype=self.dtype)
        obs = torch.empty(self.num_envs, OBS, dtype=self.dtype)
        info = {k: np.empty(self.num_envs) for k in self.info_keys}
        for i, (env, action) in enumerate(zip(self.envs, actions.to(torch.float32).numpy())):
            o, r, _, _, step_info = env.step(action)
            obs[i], reward[i] = torch.as_tensor(o[:OBS], dtype=self.dtype), r
            for k in self.info_keys:
                info[k][i] = float(step_info[k])
        self._obs = obs
        self._info = {k: torch.as_tensor(v, dtype=self.dtype) for k, v in info.items()}
        return reward, torch.zeros(self.num_envs, dtype=torch.bool)

    def _observe(self) -> torch.Tensor:
        return self._obs
