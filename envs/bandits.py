"""Multi-armed bandits as in RL^2: an episode is one pull, a trial is n pulls on the same arms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from metarl.core.analytic import AnalyticDynamics, AnalyticEnv, StepResult, rand_like
from metarl.core.tasks import TaskBatch


class BanditDynamics(AnalyticDynamics):
    """k arms; pulling arm a pays a reward drawn from that arm's distribution and ends the episode.

    The observation is a constant 0: it carries no task information, so all adaptation has to
    come from the rewards of the trial's earlier pulls.
    """

    def __init__(self, num_arms: int, kind: str, reward_std: float = 1.0) -> None:
        self.kind = kind
        self.reward_std = reward_std
        self.observation_space = spaces.Box(0.0, 1.0, (1,), np.float32)
        self.action_space = spaces.Discrete(num_arms)

    def initial_state(self, tasks: TaskBatch, generator: torch.Generator) -> torch.Tensor:
        params = next(iter(tasks.values()))
        return torch.zeros(params.shape[0], 1, dtype=torch.float32, device=params.device)

    def step(self, state: torch.Tensor, action: torch.Tensor, tasks: TaskBatch, generator: torch.Generator) -> StepResult:
        rows = torch.arange(action.shape[0], device=action.device)
        if self.kind == "bernoulli":
            p = tasks["arm_probs"][rows, action]
            reward = (rand_like(p, generator) < p).to(torch.float32)
        else:
            mean = tasks["arm_means"][rows, action]
            reward = mean + self.reward_std * rand_like(mean, generator, normal=True)
        return StepResult(state, reward, torch.ones_like(reward, dtype=torch.bool))

    def observe(self, state: torch.Tensor, tasks: TaskBatch) -> torch.Tensor:
        return torch.zeros_like(state)


def _check_num_arms(num_arms: int) -> int:
    if not isinstance(num_arms, (int, np.integer)) or num_arms < 2:
        raise ValueError(f"num_arms must be an integer >= 2, got {num_arms!r}")
    return int(num_arms)


class BernoulliBanditEnv(AnalyticEnv):
    """Bernoulli bandit of RL^2 (Duan et al., 2016, section 4.1).

    Arm probabilities ~ U[0, 1] per arm (``num_arms``, default 5). One episode is one pull
    (horizon 1, terminated after the pull); a trial is ``trial_episodes`` pulls on the same arms
    (the paper's n; default 10). The observation is a constant 0.
    """

    trial_episodes = 10
    reference = "RL^2 multi-armed bandits (Duan et al. 2016, 4.1)"

    def __init__(self, task: Mapping[str, Any] | None = None, num_arms: int = 5) -> None:
        self.num_arms = _check_num_arms(num_arms)
        super().__init__(BanditDynamics(self.num_arms, "bernoulli"), task)

    def oracle_action(self, obs: torch.Tensor, tasks: TaskBatch, steps_left: torch.Tensor) -> torch.Tensor:
        """The arm with the highest probability (the reference optimum of ``metarl.runner.references``)."""
        return tasks["arm_probs"].argmax(dim=-1).to(obs.device)

    @property
    def task_space(self) -> spaces.Dict:
        return spaces.Dict({"arm_probs": spaces.Box(0.0, 1.0, (self.num_arms,), np.float32)})

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: str) -> dict[str, np.ndarray]:
        return {"arm_probs": rng.uniform(0.0, 1.0, (n, self.num_arms)).astype(np.float32)}


class GaussianBanditEnv(AnalyticEnv):
    """Gaussian bandit: arm means ~ N(0, 1), a pull pays N(mean, ``reward_std``^2) (default 1).

    Same episode and trial structure as ``BernoulliBanditEnv``. Reference: the Gaussian-arm
    setting common in the bandit and meta-RL literature (e.g. Wang et al., 2016).
    """

    trial_episodes = 10
    reference = "Gaussian arms, means ~ N(0, 1)"

    def __init__(self, task: Mapping[str, Any] | None = None, num_arms: int = 5, reward_std: float = 1.0) -> None:
        self.num_arms = _check_num_arms(num_arms)
        if not reward_std > 0:
            raise ValueError(f"reward_std must be > 0, got {reward_std!r}")
        super().__init__(BanditDynamics(self.num_arms, "gaussian", reward_std), task)

    def oracle_action(self, obs: torch.Tensor, tasks: TaskBatch, steps_left: torch.Tensor) -> torch.Tensor:
        """The arm with the highest mean (the reference optimum of ``metarl.runner.references``)."""
        return tasks["arm_means"].argmax(dim=-1).to(obs.device)

    @property
    def task_space(self) -> spaces.Dict:
        return spaces.Dict({"arm_means": spaces.Box(-np.inf, np.inf, (self.num_arms,), np.float32)})

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: str) -> dict[str, np.ndarray]:
        return {"arm_means": rng.normal(0.0, 1.0, (n, self.num_arms)).astype(np.float32)}
