"""Evaluation: the adaptation curve, the one rollout routine every agent is measured with.

For each held-out task of a fixed task set, the agent's adaptation state is reset
(``begin_task``), then it runs ``K`` consecutive episodes on that task; the curve is the mean
return over tasks per episode index ``1..K`` with a 95% confidence interval. All tasks run at
once, one sub-env each, in lockstep on torch tensors (see ``run_adaptation``).

The result (``metarl.report.results.AdaptationResult``) is written to a run directory by
``metarl.report.adaptation.write_adaptation``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode

from metarl.common.protocol import Agent, AgentState, TaskAware, Transition, agent_name
from metarl.common.trials import trial_steps
from metarl.core.tasks import stack_task_list, unstack_tasks
from metarl.core.vector import TaskVectorEnv
from metarl.report.results import AdaptationResult


# ----- rollouts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdaptationRollout:
    """What ``run_adaptation`` returns: tensors on the env's device and the final agent state.

    ``returns`` ``(n, K)`` float64 and ``lengths`` ``(n, K)`` int64: the return and the number
    of steps of episode ``k`` on sub-env ``i``.
    """

    returns: torch.Tensor
    lengths: torch.Tensor
    state: AgentState
    #: ``(n, K)`` bool: ``info["success"]`` was 1 at some step of the episode (families whose
    #: ``info_keys`` name ``success``, e.g. Meta-World; ``None`` elsewhere).
    successes: torch.Tensor | None = None


def run_adaptation(
    agent: Agent,
    env: TaskVectorEnv,
    episodes: int,
    *,
    deterministic: bool = True,
    seed: int | None = None,
) -> AdaptationRollout:
    """Run ``episodes`` consecutive episodes of ``agent`` on every sub-env's current task.

    ``env`` must have autoreset disabled and a time limit. The agent's state covers all
    sub-envs: ``begin_task(num_envs)`` once, then per episode: reset every sub-env, step all of
    them in lockstep until each one's episode ended, calling ``act`` and ``observe`` once per
    step, and finally ``end_episode``. A sub-env whose episode ended waits for the others: its
    observation is kept, its rewards are not counted and its rows of the transitions passed to
    ``observe`` have ``valid`` False (the env API has no per-sub-env step, so it is stepped
    with the others and the results are discarded). ``seed`` seeds the first reset only, so
    the episodes of a trial continue one random stream. A ``TaskAware`` agent (an oracle) is
    given the sub-envs' tasks, ``agent.set_tasks(env.get_tasks())``, before ``begin_task``.
    """
    if not isinstance(agent, Agent):
        raise TypeError(f"{type(agent).__name__} is not an Agent; it needs begin_task, act, observe and end_episode")
    if not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if env.metadata.get("autoreset_mode") is not AutoresetMode.DISABLED:
        raise ValueError(
            f"run_adaptation needs an env with autoreset disabled, got {env.metadata.get('autoreset_mode')!r}; "
            "build it with autoreset_mode='disabled'"
        )
    if env.max_episode_steps is None:
        raise ValueError("run_adaptation needs an env with a time limit, got max_episode_steps=None")
    n = env.num_envs
    returns = torch.zeros(n, episodes, dtype=torch.float64, device=env.device)
    lengths = torch.zeros(n, episodes, dtype=torch.int64, device=env.device)
    successes = torch.zeros(n, episodes, dtype=torch.bool, device=env.device)
    has_success = "success" in getattr(env.family, "info_keys", ())
    if isinstance(agent, TaskAware):
        agent.set_tasks(env.get_tasks())
    state = agent.begin_task(n)

    def act(obs: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        nonlocal state
        actions, state = agent.act(obs, state, deterministic)
        if not isinstance(actions, torch.Tensor) or actions.shape[:1] != (n,):
            shape = tuple(actions.shape) if isinstance(actions, torch.Tensor) else type(actions).__name__
            raise ValueError(f"{agent_name(agent)}.act must return a tensor of {n} actions, got {shape}")
        return actions, {}

    k = 0
    for step in trial_steps(env, act, episodes=episodes, seed=seed):
        state = agent.observe(state, Transition(step.obs, step.action, step.reward, step.next_obs, step.terminated,
                                                step.truncated, step.valid))  # fmt: skip
        returns[:, k] += step.reward
        lengths[:, k] += step.valid.long()
        if has_success:  # Meta-World's rule: an episode succeeds if success is 1 at any step
            if "success" not in step.info:
                raise KeyError(f"{type(env).__name__} leaves 'success' out of its step info, which its family reports")
            successes[:, k] |= step.valid & (step.info["success"] > 0)
        if step.episode_end:
            state = agent.end_episode(state)
            k += 1
    return AdaptationRollout(returns, lengths, state, successes if has_success else None)


def evaluate_adaptation(
    agent: Agent,
    env_id: str,
    *,
    split: str = "test",
    episodes: int | None = None,
    seed: int | None = 0,
    device: str | torch.device = "cpu",
    env_kwargs: Mapping[str, Any] | None = None,
    deterministic: bool = True,
    tasks: Sequence[Mapping[str, Any]] | None = None,
    evaluation_episodes: int | None = None,
) -> AdaptationResult:
    """The adaptation curve of ``agent`` on the fixed task set ``split`` of family ``env_id``.

    Builds the batched env with one sub-env per task (autoreset disabled) on ``device`` and
    runs ``run_adaptation``. ``episodes`` defaults to the family's ``trial_episodes`` plus its
    ``evaluation_episodes`` (Meta-World's protocol: adaptation episodes, then evaluation ones);
    ``env_kwargs`` go to ``gymnasium.make_vec`` (family and backend options); ``tasks``
    replaces the task set (the result's split is then ``"custom"``). On families that report
    success, the last ``evaluation_episodes`` (default: the family's) are the protocol's evaluation
    phase (``metarl.report.success``). The agent's optional
    ``adaptation_episodes`` and ``adaptation_updates`` are recorded in the result.
    """
    marks = {name: _optional_count(agent, name, minimum) for name, minimum in _ADAPTATION_MARKS.items()}
    kwargs = dict(env_kwargs or {})
    family = _family(env_id, kwargs)
    try:  # the tasks, checked once here as one batch
        if tasks is None:
            batch = family.task_set_batch(split)
        else:
            split = "custom"
            if not list(tasks):
                raise ValueError("tasks is empty; give at least one task or tasks=None for the task set")
            batch = family.validate_task_batch(stack_task_list(list(tasks), family.task_space))
        task_list = unstack_tasks(batch)
        groups = [family.task_group(t) for t in task_list]
        if episodes is None:
            episodes = family.trial_episodes + int(family.evaluation_episodes)
        if evaluation_episodes is None:  # the family's, as far as the episodes run reach
            evaluation_episodes = min(int(family.evaluation_episodes), episodes)
        if not isinstance(evaluation_episodes, (int, np.integer)) or not 0 <= evaluation_episodes <= episodes:
            raise ValueError(f"evaluation_episodes must be an integer in [0, episodes={episodes}], got {evaluation_episodes!r}")
    finally:
        family.close()
    env = gym.make_vec(
        env_id,
        num_envs=len(next(iter(batch.values()))),
        vectorization_mode="vector_entry_point",
        device=device,
        tasks=batch,
        autoreset_mode="disabled",
        **kwargs,
    )
    try:
        rollout = run_adaptation(agent, env, episodes, deterministic=deterministic, seed=seed)
    finally:
        env.close()
    return AdaptationResult(
        env_id,
        split,
        agent_name(agent),
        task_list,
        rollout.returns.cpu().numpy(),
        rollout.lengths.cpu().numpy(),
        seed,
        **marks,
        successes=None if rollout.successes is None else rollout.successes.cpu().numpy(),
        groups=None if all(g is None for g in groups) else [str(g) for g in groups],
        evaluation_episodes=int(evaluation_episodes) if rollout.successes is not None else None,
    )


#: The agent's optional attributes that say where it adapts (see ``metarl.common.protocol``), and their
#: least allowed value.
_ADAPTATION_MARKS = {"adaptation_episodes": 1, "adaptation_updates": 0}


def _optional_count(agent: Agent, name: str, minimum: int) -> int | None:
    """The agent's attribute ``name``: ``None`` when absent, else an integer >= ``minimum``
    (checked before the rollouts: a bad value would only surface when the figure is drawn)."""
    value = getattr(agent, name, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{agent_name(agent)}.{name} must be None or an integer >= {minimum}, got {value!r}")
    return int(value)


def _family(env_id: str, env_kwargs: Mapping[str, Any]) -> Any:
    """A single-env instance of family ``env_id`` built with the family options among
    ``env_kwargs`` (those its constructor accepts; backend options are left out)."""
    spec = gym.spec(env_id)
    cls = load_env_creator(spec.entry_point)
    accepted = inspect.signature(cls).parameters
    options = {k: v for k, v in env_kwargs.items() if k in accepted and k != "task"}
    return cls(**{**spec.kwargs, **options})


