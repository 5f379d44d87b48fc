"""VariBAD's grid navigation: find an unobserved goal cell in a small grid."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from metarl.core.analytic import AnalyticDynamics, AnalyticEnv, StepResult
from metarl.core.tasks import Task, TaskBatch, param_error

# Action index -> (dx, dy): stay, up, right, down, left (VariBAD's order).
MOVES = ((0, 0), (0, 1), (1, 0), (0, -1), (-1, 0))


class GridDynamics(AnalyticDynamics):
    """Moves on a ``size`` x ``size`` grid from (0, 0); reward 1 on the goal cell, -0.1 elsewhere."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.observation_space = spaces.Box(0.0, float(size - 1), (2,), np.float32)
        self.action_space = spaces.Discrete(len(MOVES))
        self._moves = torch.tensor(MOVES, dtype=torch.int64)

    def initial_state(self, tasks: TaskBatch, generator: torch.Generator) -> torch.Tensor:
        goal = tasks["goal"]
        return torch.zeros(goal.shape[0], 2, dtype=torch.int64, device=goal.device)

    def step(self, state: torch.Tensor, action: torch.Tensor, tasks: TaskBatch, generator: torch.Generator) -> StepResult:
        position = (state + self._moves.to(state.device)[action]).clamp(0, self.size - 1)
        at_goal = (position == tasks["goal"]).all(dim=-1)
        reward = torch.where(at_goal, 1.0, -0.1).to(torch.float32)
        return StepResult(position, reward, torch.zeros_like(at_goal))

    def observe(self, state: torch.Tensor, tasks: TaskBatch) -> torch.Tensor:
        return state.to(torch.float32)


class GridNavigationEnv(AnalyticEnv):
    """VariBAD's gridworld (reference: varibad ``environments/navigation/gridworld.py``).

    5 x 5 grid, start at (0, 0); the goal is uniform over the 21 cells that are neither the start
    nor one of its 3 neighbours, and is not observed (the observation is the agent's cell).
    Actions: stay, up, right, down, left (moves off the grid leave the agent in place). Reward
    1 on the goal cell and -0.1 elsewhere; the agent may stay on the goal; horizon 15; VariBAD's
    trial (BAMDP) is 4 episodes. train = test = all 21 goals. A task with the goal on the start
    cell or one of its neighbours ((0, 0), (0, 1), (1, 0), (1, 1)) is rejected (``ValueError``).
    """

    trial_episodes = 4
    reference = "VariBAD gridworld (varibad gridworld.py)"

    def __init__(self, task: Mapping[str, Any] | None = None, size: int = 5) -> None:
        if not isinstance(size, (int, np.integer)) or size < 3:
            raise ValueError(f"size must be an integer >= 3, got {size!r}")
        self.size = int(size)
        self._goals = np.array(
            [g for g in itertools.product(range(self.size), repeat=2) if max(g) > 1], dtype=np.int64
        )
        super().__init__(GridDynamics(self.size), task)

    @property
    def task_space(self) -> spaces.Dict:
        return spaces.Dict({"goal": spaces.MultiDiscrete([self.size, self.size])})

    def oracle_action(self, obs: torch.Tensor, tasks: TaskBatch, steps_left: torch.Tensor) -> torch.Tensor:
        """A shortest path to the known goal (along x, then y), then stay on it: every step off
        the goal costs 0.1, so reaching it in the fewest steps is optimal (the reference optimum
        of ``metarl.runner.references``)."""
        delta = tasks["goal"].to(obs.device) - obs.round().long()
        dx, dy = delta[:, 0], delta[:, 1]
        # MOVES: 0 stay, 1 up (+y), 2 right (+x), 3 down (-y), 4 left (-x).
        action = torch.where(dy > 0, 1, torch.where(dy < 0, 3, 0))
        return torch.where(dx > 0, 2, torch.where(dx < 0, 4, action))

    def enumerate_tasks(self) -> list[Task]:
        return [{"goal": g.copy()} for g in self._goals]

    def _check_task_batch(self, batch: dict[str, np.ndarray]) -> None:
        goal = batch["goal"]
        # VariBAD excludes the start and its neighbours: the goal must not be found by chance at once.
        bad = goal.max(axis=1) <= 1
        if bad.any():
            raise param_error(
                "goal", goal, int(np.argmax(bad)),
                "is the start cell (0, 0) or one of its neighbours (0, 1), (1, 0), (1, 1); allowed: a cell of "
                f"{{0..{self.size - 1}}}^2 with at least one coordinate >= 2",
            )  # fmt: skip

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: str) -> dict[str, np.ndarray]:
        return {"goal": self._goals[rng.integers(0, len(self._goals), n)]}
