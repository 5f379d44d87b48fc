"""Reference returns on the held-out tasks: what a curve is to be read against.

``reference_returns`` measures, on the same tasks and through the same rollouts as the agent's
adaptation curve (``metarl.runner.evaluation.evaluate_adaptation``), the mean return per episode of

- ``"random"``: uniformly random actions (``metarl.common.protocol.RandomAgent``), every family;
- ``"optimum"``: a scripted policy that is told the task, for families that define the
  optional hook below. It needs no experience, so it bounds what adaptation can reach.

Neither policy adapts, so its return per episode does not depend on the episode index: the
reference is the mean over tasks and episodes. MuJoCo families get the random reference only,
from one episode per task (a fraction of one evaluation's cost).

The family hook (a method of the single-env family class, found with ``getattr``)::

    def oracle_action(self, obs: Tensor, tasks: TaskBatch, steps_left: Tensor) -> Tensor

``obs`` ``(n, *obs_shape)`` and ``tasks`` (a ``metarl.core.tasks.TaskBatch``) as the batched env
gives them, ``steps_left`` ``(n,)`` int64: the steps left in the episode including this one
(the time limit minus the steps taken; a finite-horizon optimum depends on it). It returns
``(n, *action_shape)`` actions on ``obs``'s device. Defined by PointRobot, SparsePointRobot,
Navigation2D (exactly optimal: each coordinate moves toward the goal by the largest allowed
displacement), BernoulliBandit and GaussianBandit (the best arm), GridNavigation (a shortest
path, then staying on the goal) and TabularMDP (finite-horizon value iteration on the true MDP).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import torch

from metarl.common.protocol import RandomAgent, Transition
from metarl.core.analytic import AnalyticEnv
from metarl.core.tasks import TaskBatch
from metarl.report.results import REFERENCE_NAMES
from metarl.runner.evaluation import _family, evaluate_adaptation

#: Display names of the references, in the order ``format_references`` prints them.


class ScriptedOracleAgent:
    """The family's ``oracle_action`` behind the adaptation interface (``Agent`` and ``TaskAware``).

    The state is the ``(n,)`` count of steps taken in the current episode, so that the hook gets
    the steps left before the time limit ``horizon``. Not to be confused with
    ``agents.oracle.OracleAgent``, a task-conditioned policy trained by RL.
    """

    name = "optimum"

    def __init__(self, family: Any, horizon: int) -> None:
        if getattr(family, "oracle_action", None) is None:
            raise ValueError(f"{type(family).__name__} defines no oracle_action; see metarl.runner.references")
        self.family, self.horizon = family, int(horizon)
        self.tasks: TaskBatch | None = None

    def set_tasks(self, tasks: TaskBatch) -> None:
        """Remember the true tasks of the next ``begin_task``'s sub-envs."""
        self.tasks = tasks

    def begin_task(self, n_tasks: int) -> torch.Tensor:
        """No step taken yet (on the tasks' device)."""
        if self.tasks is None:
            raise RuntimeError("ScriptedOracleAgent needs set_tasks(tasks) before begin_task")
        device = next(iter(self.tasks.values())).device
        return torch.zeros(n_tasks, dtype=torch.int64, device=device)

    def act(self, obs: torch.Tensor, state: torch.Tensor, deterministic: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """The family's oracle action for every sub-env (deterministic either way)."""
        return self.family.oracle_action(obs, self.tasks, self.horizon - state), state

    def observe(self, state: torch.Tensor, transition: Transition) -> torch.Tensor:
        """One more step for the sub-envs still in their episode."""
        return state + transition.valid.to(state.device, torch.int64)

    def end_episode(self, state: torch.Tensor) -> torch.Tensor:
        """The next episode starts at step 0."""
        return torch.zeros_like(state)


def has_optimum(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> bool:
    """Whether family ``env_id`` defines the ``oracle_action`` hook."""
    family = _family(env_id, dict(env_kwargs or {}))
    try:
        return getattr(family, "oracle_action", None) is not None
    finally:
        family.close()


def reference_returns(
    env_id: str,
    split: str = "test",
    episodes: int | None = None,
    seed: int | None = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    device: str | torch.device = "cpu",
    *,
    tasks: Sequence[Mapping[str, Any]] | None = None,
) -> dict[str, float]:
    """Mean return per episode of the reference policies on the task set ``split`` of
    ``env_id`` (or on ``tasks``): ``{"random": x}``, plus ``"optimum"`` where the family defines
    ``oracle_action``.

    Arguments as ``evaluate_adaptation``'s, which runs the rollouts. ``episodes`` (default: the
    family's ``trial_episodes``) applies to analytic families, where more episodes only shrink
    the noise at a cost of milliseconds; other families (MuJoCo) run one episode per task. The
    random policy is seeded with ``seed`` (0 when ``None``).
    """
    kwargs = dict(env_kwargs or {})
    family = _family(env_id, kwargs)
    try:
        if not isinstance(family, AnalyticEnv):
            episodes = 1  # simulation costs as much as the agent's own evaluation: one episode is enough
        common = dict(split=split, episodes=episodes, seed=seed, device=device, env_kwargs=kwargs, tasks=tasks)
        agent = RandomAgent(family.action_space, seed=0 if seed is None else seed, device=device)
        out = {"random": _mean(evaluate_adaptation(agent, env_id, **common))}
        if getattr(family, "oracle_action", None) is not None:
            horizon = kwargs.get("max_episode_steps", gym.spec(env_id).max_episode_steps)
            out["optimum"] = _mean(evaluate_adaptation(ScriptedOracleAgent(family, horizon), env_id, **common))
        return out
    finally:
        family.close()


def _mean(result: Any) -> float:
    return float(result.returns.mean())


def format_references(references: Mapping[str, float] | None) -> str:
    """One line for reports, e.g. ``"random policy: -20.31   known-task optimum: -5.40 (mean
    return per episode on the same tasks)"``; empty when there are none."""
    if not references:
        return ""
    names = [*REFERENCE_NAMES, *(k for k in references if k not in REFERENCE_NAMES)]
    parts = [f"{REFERENCE_NAMES.get(k, k)}: {references[k]:.2f}" for k in names if k in references]
    return "   ".join(parts) + " (mean return per episode on the same tasks)"
