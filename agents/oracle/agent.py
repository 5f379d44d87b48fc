"""The oracle's adaptation interface: a PPO policy with (``OracleAgent``) or without (``PolicyAgent``) the tasks."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn as nn
from gymnasium import spaces
from metarl.agents.oracle.networks import ActorCritic, Condition, TaskFeatures
from torch import Tensor

from metarl.common.normalization import RunningMeanStd
from metarl.common.protocol import Transition
from metarl.core.spaces import check_action_space
from metarl.core.tasks import TaskBatch


def policy_action_space(space: spaces.Space) -> spaces.Space:
    """The space the policy acts in: ``[-1, 1]^d`` for a bounded Box (rescaled to the env's bounds), else ``space``."""
    check_action_space(space)
    if isinstance(space, spaces.Box):
        return spaces.Box(-1.0, 1.0, space.shape, np.float32)
    return space


class PolicyAgent(nn.Module):
    """A PPO-trained policy behind the adaptation interface, without task information.

    It does not adapt: its state is the (empty) per-task conditioning, unchanged by ``observe``
    and ``end_episode``. Observations are normalised with the statistics gathered in training
    (frozen here); ``deterministic`` acts with the mode, else samples from ``generator``.
    """

    name = "ppo-multitask"

    def __init__(self, net: ActorCritic, features: TaskFeatures, obs_space: spaces.Space, action_space: spaces.Space,
                 normalize_obs: bool, clip_obs: float, device: torch.device, seed: int) -> None:  # fmt: skip
        super().__init__()
        if not isinstance(obs_space, spaces.Box):
            raise ValueError(f"the oracle needs a Box observation space, got {obs_space!r}")
        self.net, self.features = net, features
        self.env_action_space = action_space
        self.obs_rms = RunningMeanStd(obs_space.shape, device) if normalize_obs else None
        self.clip_obs = clip_obs
        if isinstance(action_space, spaces.Box):
            low, high = (torch.as_tensor(b, dtype=torch.float32) for b in (action_space.low, action_space.high))
            self.register_buffer("action_center", (high + low) / 2)
            self.register_buffer("action_half_width", (high - low) / 2)
        self.device = device
        self.to(device)
        self.generator = torch.Generator(device).manual_seed(seed)

    def observation(self, obs: Tensor, update: bool = False) -> Tensor:
        """Policy input ``(n, obs_dim)`` float32: ``obs`` flattened and normalised (after folding
        it into the running statistics when ``update``), clipped to ``+-clip_obs``."""
        x = obs.to(self.device).flatten(1)
        if self.obs_rms is None:
            return x.float()
        if update:
            self.obs_rms.update(x)
        x = (x.double() - self.obs_rms.mean.flatten()) / self.obs_rms.std().flatten()
        return x.clamp(-self.clip_obs, self.clip_obs).float()

    def to_env_action(self, action: Tensor) -> Tensor:
        """Policy actions (clipped to [-1, 1] for a Box) in the env's action space."""
        action = self.net.head.to_env_action(action)
        if isinstance(self.env_action_space, spaces.Box):
            return self.action_center + self.action_half_width * action
        return action

    def begin_task(self, n_tasks: int) -> Condition:
        """No task information: an empty conditioning."""
        return []

    @torch.no_grad()
    def act(self, obs: Tensor, state: Condition, deterministic: bool = True) -> tuple[Tensor, Condition]:
        """Actions for ``obs`` ``(n, *obs_shape)``: the mode, or a sample from the agent's generator."""
        dist, _ = self.net(self.observation(obs), state)
        action = self.net.head.mode(dist) if deterministic else self.net.head.sample(dist, self.generator)
        return self.to_env_action(action), state

    def observe(self, state: Condition, transition: Transition) -> Condition:
        """Nothing to adapt."""
        return state

    def end_episode(self, state: Condition) -> Condition:
        """Nothing to adapt."""
        return state


class OracleAgent(PolicyAgent):
    """The oracle: a ``PolicyAgent`` conditioned on the true tasks, given by ``set_tasks``
    (``metarl.common.protocol.TaskAware``; the evaluator calls it before ``begin_task``)."""

    def __init__(self, *args: Any, conditioning: str = "concat", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = f"oracle-{conditioning}"
        self._task_features: Tensor | None = None

    def set_tasks(self, tasks: TaskBatch) -> None:
        """Remember the tasks of the next ``begin_task``'s sub-envs (row ``i`` for sub-env ``i``)."""
        self._task_features = self.features(tasks)

    @torch.no_grad()
    def begin_task(self, n_tasks: int) -> Condition:
        """The conditioning of the ``n_tasks`` tasks given to ``set_tasks``."""
        if self._task_features is None:
            raise RuntimeError(f"{self.name} needs the true tasks: call set_tasks(tasks) before begin_task "
                               "(metarl.runner.evaluation.run_adaptation does)")  # fmt: skip
        if self._task_features.shape[0] != n_tasks:
            raise ValueError(f"begin_task({n_tasks}) after set_tasks with {self._task_features.shape[0]} tasks; "
                             "give one task per sub-env")  # fmt: skip
        return self.net.condition(self._task_features)
