"""Random tabular MDPs as in RL^2 (Duan et al., 2016, section 4.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from metarl.core.analytic import AnalyticDynamics, AnalyticEnv, StepResult, rand_like
from metarl.core.tasks import TaskBatch

SIMPLEX_TOLERANCE = 1e-4


class TabularMDPDynamics(AnalyticDynamics):
    """Tabular MDP: start in state 0, reward ~ N(mean[s, a], 1), next state ~ transitions[s, a]."""

    def __init__(self, num_states: int, num_actions: int) -> None:
        self.num_states = num_states
        self.observation_space = spaces.Box(0.0, 1.0, (num_states,), np.float32)
        self.action_space = spaces.Discrete(num_actions)

    def initial_state(self, tasks: TaskBatch, generator: torch.Generator) -> torch.Tensor:
        means = tasks["reward_means"]
        return torch.zeros(means.shape[0], dtype=torch.int64, device=means.device)

    def step(self, state: torch.Tensor, action: torch.Tensor, tasks: TaskBatch, generator: torch.Generator) -> StepResult:
        mean = tasks["reward_means"][torch.arange(state.shape[0], device=state.device), state, action]
        reward = mean + rand_like(mean, generator, normal=True)
        probs = tasks["transitions"][torch.arange(state.shape[0], device=state.device), state, action]
        # Inverse-CDF sampling: one uniform per env, vectorized over the batch.
        u = rand_like(probs[:, :1], generator)
        next_state = (probs.cumsum(dim=-1) < u).sum(dim=-1).clamp(max=self.num_states - 1)
        return StepResult(next_state, reward, torch.zeros_like(reward, dtype=torch.bool))

    def observe(self, state: torch.Tensor, tasks: TaskBatch) -> torch.Tensor:
        return torch.nn.functional.one_hot(state, self.num_states).to(torch.float32)


class TabularMDPEnv(AnalyticEnv):
    """Random tabular MDP of RL^2 (Duan et al., 2016, section 4.2).

    ``num_states`` = 10 states, ``num_actions`` = 5 actions; transition probabilities
    ``transitions[s, a]`` ~ Dirichlet(1, ..., 1); mean rewards ``reward_means[s, a]`` ~ N(1, 1)
    and each reward ~ N(mean, 1); start state 0; horizon 10; observation = one-hot state.
    A trial is ``trial_episodes`` episodes on the same MDP (the paper's n; default 10).
    """

    trial_episodes = 10
    reference = "RL^2 random tabular MDPs (Duan et al. 2016, 4.2)"

    def __init__(self, task: Mapping[str, Any] | None = None, num_states: int = 10, num_actions: int = 5) -> None:
        for name, value in (("num_states", num_states), ("num_actions", num_actions)):
            if not isinstance(value, (int, np.integer)) or value < 2:
                raise ValueError(f"{name} must be an integer >= 2, got {value!r}")
        self.num_states, self.num_actions = int(num_states), int(num_actions)
        super().__init__(TabularMDPDynamics(self.num_states, self.num_actions), task)

    def oracle_action(self, obs: torch.Tensor, tasks: TaskBatch, steps_left: torch.Tensor) -> torch.Tensor:
        """The optimal action on the known MDP with ``steps_left`` steps to go (finite-horizon
        value iteration on the mean rewards; the reference optimum of ``metarl.runner.references``).
        Recomputed per call: for RL^2's sizes it is a few small batched matrix products."""
        means = tasks["reward_means"].to(obs.device, torch.float64)  # (n, s, a)
        transitions = tasks["transitions"].to(obs.device, torch.float64)  # (n, s, a, s')
        left = steps_left.to(obs.device).clamp(min=1)  # rows whose episode ended: any action
        value = torch.zeros(means.shape[:2], dtype=torch.float64, device=obs.device)
        action = torch.zeros(len(means), dtype=torch.int64, device=obs.device)
        state = obs.argmax(dim=-1)
        rows = torch.arange(len(means), device=obs.device)
        for h in range(1, int(left.max()) + 1):
            q = means + torch.einsum("nsat,nt->nsa", transitions, value)  # Q with h steps to go
            action = torch.where(left == h, q[rows, state].argmax(dim=-1), action)
            value = q.max(dim=-1).values
        return action

    @property
    def task_space(self) -> spaces.Dict:
        s, a = self.num_states, self.num_actions
        return spaces.Dict(
            {
                "transitions": spaces.Box(0.0, 1.0, (s, a, s), np.float32),
                "reward_means": spaces.Box(-np.inf, np.inf, (s, a), np.float32),
            }
        )

    def _check_task_batch(self, batch: dict[str, np.ndarray]) -> None:
        sums = batch["transitions"].sum(axis=-1, dtype=np.float64)  # (n, s, a), one pass over the batch
        bad = np.abs(sums - 1.0) > SIMPLEX_TOLERANCE
        if bad.any():
            i, state, action = np.unravel_index(int(np.argmax(bad)), bad.shape)
            where = f" of task {i} of the batch" if len(sums) > 1 else ""
            raise ValueError(
                f"task parameter 'transitions'{where} has row [{state}, {action}] "
                f"summing to {sums[i, state, action]:.6g}; "
                f"each transitions[s, a] must be a probability vector summing to 1 (tolerance {SIMPLEX_TOLERANCE})"
            )

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: str) -> dict[str, np.ndarray]:
        s, a = self.num_states, self.num_actions
        transitions = rng.dirichlet(np.ones(s), size=(n, s, a))
        means = rng.normal(1.0, 1.0, (n, s, a))
        return {"transitions": transitions.astype(np.float32), "reward_means": means.astype(np.float32)}
