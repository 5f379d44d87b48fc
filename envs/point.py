"""Point navigation families: PEARL's point robot (dense and sparse) and MAML's 2D navigation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from metarl.core.analytic import AnalyticDynamics, AnalyticEnv, StepResult
from metarl.core.tasks import TaskBatch

MAX_DISPLACEMENT = 0.1


class PointDynamics(AnalyticDynamics):
    """A point moved by clipped displacements from the origin toward an unobserved goal.

    ``reward="dense"``: minus the Euclidean distance to the goal after the move.
    ``reward="sparse"``: ``1 - distance`` within ``goal_radius`` of the goal, else 0.
    ``success_tolerance``: the episode terminates once both coordinates are within it of the goal.
    """

    def __init__(self, reward: str = "dense", goal_radius: float = 0.2, success_tolerance: float | None = None) -> None:
        if reward not in ("dense", "sparse"):
            raise ValueError(f"reward must be 'dense' or 'sparse', got {reward!r}")
        self.reward_kind = reward
        self.goal_radius = goal_radius
        self.success_tolerance = success_tolerance
        self.observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
        self.action_space = spaces.Box(-MAX_DISPLACEMENT, MAX_DISPLACEMENT, (2,), np.float32)

    def initial_state(self, tasks: TaskBatch, generator: torch.Generator) -> torch.Tensor:
        goal = tasks["goal"]
        return torch.zeros(goal.shape[0], 2, dtype=torch.float32, device=goal.device)

    def step(self, state: torch.Tensor, action: torch.Tensor, tasks: TaskBatch, generator: torch.Generator) -> StepResult:
        position = state + action.clamp(-MAX_DISPLACEMENT, MAX_DISPLACEMENT)
        offset = position - tasks["goal"]
        distance = torch.linalg.vector_norm(offset, dim=-1)
        if self.reward_kind == "dense":
            reward = -distance
        else:
            reward = torch.where(distance <= self.goal_radius, 1.0 - distance, torch.zeros_like(distance))
        if self.success_tolerance is None:
            terminated = torch.zeros_like(distance, dtype=torch.bool)
        else:
            terminated = (offset.abs() < self.success_tolerance).all(dim=-1)
        return StepResult(position, reward, terminated)

    def observe(self, state: torch.Tensor, tasks: TaskBatch) -> torch.Tensor:
        return state.clone()


def toward_goal(obs: torch.Tensor, tasks: TaskBatch) -> torch.Tensor:
    """The known-goal optimum's displacements: each coordinate toward the goal by at most the
    largest allowed step. The point then sits at ``clip(goal, -0.1 t, 0.1 t)`` after ``t`` steps,
    the reachable point nearest the goal, so every step's reward is the largest possible (and
    Navigation2D's tolerance is met as early as possible)."""
    return (tasks["goal"].to(obs.device, obs.dtype) - obs).clamp(-MAX_DISPLACEMENT, MAX_DISPLACEMENT)


def _goals_on_circle(angles: np.ndarray, radius: float = 1.0) -> dict[str, np.ndarray]:
    goals = radius * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    return {"goal": goals.astype(np.float32)}


class PointRobotEnv(AnalyticEnv):
    """PEARL's point robot (reference: oyster ``rlkit/envs/point_robot.py``).

    The point starts at the origin; each action is a displacement clipped to [-0.1, 0.1]^2;
    reward = -(distance to the goal) after the move; horizon 20; never terminates. Goals lie on
    the unit half-circle (angle in [0, pi]); ``ood`` goals on the lower half (angle in (pi, 2 pi)).
    Deviation: PEARL takes evenly spaced angles (``linspace``) shuffled; we draw angles
    uniformly so that ``sample_tasks`` is a distribution.
    """

    task_space = spaces.Dict({"goal": spaces.Box(-1.0, 1.0, (2,), np.float32)})
    has_ood = True
    trial_episodes = 2
    reference = "PEARL point robot (oyster point_robot.py)"

    def __init__(self, task: Mapping[str, Any] | None = None) -> None:
        super().__init__(PointDynamics("dense"), task)

    def oracle_action(self, obs: torch.Tensor, tasks: TaskBatch, steps_left: torch.Tensor) -> torch.Tensor:
        """The known-goal optimum (``toward_goal``), the reference of ``metarl.runner.references``."""
        return toward_goal(obs, tasks)

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: str) -> dict[str, np.ndarray]:
        low, high = (0.0, np.pi) if distribution == "train" else (np.pi, 2 * np.pi)
        return _goals_on_circle(rng.uniform(low, high, n))


class SparsePointRobotEnv(PointRobotEnv):
    """PEARL's sparse point robot (reference: oyster ``SparsePointEnv``).

    As ``PointRobotEnv`` but reward = 1 - distance within 0.2 of the goal and 0 outside.
    """

    reference = "PEARL sparse point robot (oyster point_robot.py)"

    def __init__(self, task: Mapping[str, Any] | None = None, goal_radius: float = 0.2) -> None:
        AnalyticEnv.__init__(self, PointDynamics("sparse", goal_radius=goal_radius), task)


class Navigation2DEnv(AnalyticEnv):
    """MAML's 2D navigation (reference: pytorch-maml-rl ``maml_rl/envs/navigation.py``).

    The point starts at the origin; actions are displacements clipped to [-0.1, 0.1]^2; reward
    = -(distance to the goal) after the move; the episode terminates when both coordinates are
    within 0.01 of the goal; horizon 100. Goals ~ U[-0.5, 0.5]^2; ``ood`` goals ~ U[-1, 1]^2
    outside the training square.
    """

    task_space = spaces.Dict({"goal": spaces.Box(-1.0, 1.0, (2,), np.float32)})
    has_ood = True
    trial_episodes = 2
    reference = "MAML 2D navigation (pytorch-maml-rl navigation.py)"

    def __init__(self, task: Mapping[str, Any] | None = None) -> None:
        super().__init__(PointDynamics("dense", success_tolerance=0.01), task)

    def oracle_action(self, obs: torch.Tensor, tasks: TaskBatch, steps_left: torch.Tensor) -> torch.Tensor:
        """The known-goal optimum (``toward_goal``), the reference of ``metarl.runner.references``."""
        return toward_goal(obs, tasks)

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: str) -> dict[str, np.ndarray]:
        if distribution == "train":
            return {"goal": rng.uniform(-0.5, 0.5, (n, 2)).astype(np.float32)}
        # Uniform on [-1, 1]^2 minus the training square, by rejection (3/4 of draws accepted).
        goals = np.empty((0, 2))
        while len(goals) < n:
            draw = rng.uniform(-1.0, 1.0, (2 * n, 2))
            goals = np.concatenate([goals, draw[np.abs(draw).max(axis=1) > 0.5]])
        return {"goal": goals[:n].astype(np.float32)}
