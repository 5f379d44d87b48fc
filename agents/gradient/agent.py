"""Meta-test: a meta-trained ``Adaptation`` behind the adaptation interface (``begin_task`` /
``act`` / ``observe`` / ``end_episode``), taking an inner step after every ``inner_episodes``
episodes of the tasks gathered through ``observe``, up to ``test_inner_steps`` steps.

An evaluation of ``inner_episodes * (test_inner_steps + 1)`` episodes thus shows the returns
before and after each step (``metarl.runner.evaluation.run_adaptation``'s episode ``k`` is the
``((k-1) mod K)+1``-th episode after ``(k-1) // K`` inner steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn as nn
from metarl.agents.gradient.config import GradientMetaConfig
from metarl.agents.gradient.inner import detached, inner_update
from metarl.agents.gradient.networks import FastParams, task_distribution, task_outputs
from metarl.agents.gradient.rollout import compute_advantages, stack_steps
from torch import Tensor

from metarl.common.protocol import Transition


@dataclass
class AdaptationState:
    """Meta-test state of ``n`` tasks: fast parameters and the steps gathered since the last update."""

    fast: FastParams
    steps: list[dict[str, Tensor]] = field(default_factory=list)
    pending: dict[str, Tensor] = field(default_factory=dict)
    time: Tensor | None = None
    episodes: int = 0
    updates: int = 0


class GradientMetaAgent:
    """A meta-trained ``Adaptation`` behind the adaptation interface.

    Actions are sampled from the adapted policy (the inner step needs on-policy samples, and the
    MAML/ProMP/CAVIA papers report sampled returns); with ``deterministic_after_adaptation`` the
    episodes after the last inner step take the mean action when the evaluator asks for
    deterministic actions. ``end_episode`` takes an inner step after every ``inner_episodes``
    episodes, on those episodes, until ``test_inner_steps`` steps were taken.
    """

    def __init__(self, adaptation: nn.Module, cfg: GradientMetaConfig, device: torch.device, seed: int, name: str) -> None:
        self.adaptation, self.cfg, self.device, self.name = adaptation, cfg, device, name
        self.generator = torch.Generator(device).manual_seed(seed)

    @property
    def adaptation_episodes(self) -> int:
        """Episodes per inner step (``inner_episodes``): the evaluator records it so that figures
        mark the steps after episodes ``K, 2K, ...`` (see ``metarl.common.protocol``)."""
        return self.cfg.inner_episodes

    @property
    def adaptation_updates(self) -> int:
        """The inner steps taken per trial at meta-test (``test_inner_steps``); later episodes
        use the last adapted parameters, so no marker belongs after them."""
        return self.cfg.meta_test_steps

    def begin_task(self, n_tasks: int) -> AdaptationState:
        """The meta-learned initial fast parameters for every task."""
        with torch.no_grad():
            fast = detached(self.adaptation.initial(n_tasks))
        return AdaptationState(fast, time=torch.zeros(n_tasks, dtype=torch.long, device=self.device))

    @torch.no_grad()
    def act(self, obs: Tensor, state: AdaptationState, deterministic: bool) -> tuple[Tensor, AdaptationState]:
        """Each task's action from its current fast parameters."""
        policy = self.adaptation.policy
        params, context = self.adaptation.policy_inputs(state.fast)
        obs = obs.to(self.device, torch.float32)
        out = task_outputs(policy, params, obs[:, None], context)
        dist = task_distribution(policy, params, out)
        adapted = state.updates >= self.cfg.meta_test_steps
        if deterministic and adapted and self.cfg.deterministic_after_adaptation:
            action = policy.head.mode(dist)
        else:
            action = policy.head.sample(dist, self.generator)
        state.pending = {"obs": obs, "actions": action[:, 0], "old_out": out[:, 0], "old_log_prob": dist.log_prob(action)[:, 0]}
        return policy.head.to_env_action(action[:, 0]), state

    @torch.no_grad()
    def observe(self, state: AdaptationState, transition: Transition) -> AdaptationState:
        """Store the step for the next inner update (invalid rows are masked out)."""
        valid = transition.valid.to(self.device)
        state.steps.append({
            **state.pending,
            "env_actions": transition.action.to(self.device),
            "rewards": transition.reward.to(self.device, torch.float32),
            "next_obs": transition.next_obs.to(self.device, torch.float32),
            "dones": transition.done.to(self.device) & valid,
            "mask": valid,
            "time": state.time.clone(),
        })  # fmt: skip
        state.time = state.time + valid.long()
        if state.updates >= self.cfg.meta_test_steps:
            state.steps.clear()  # no inner step will read them
        return state

    def end_episode(self, state: AdaptationState) -> AdaptationState:
        """After every ``inner_episodes`` episodes: an inner step on them (while steps remain)."""
        state.episodes += 1
        state.time = torch.zeros_like(state.time)
        if state.episodes < self.cfg.inner_episodes:
            return state
        if state.updates < self.cfg.meta_test_steps:
            cfg = self.cfg
            log_std = state.fast.get("head.log_std")
            rollout = stack_steps(state.steps, log_std)
            rollout.advantages = compute_advantages(rollout, cfg.gamma, cfg.gae_lambda, cfg.baseline_reg)
            fast = inner_update(self.adaptation, state.fast, rollout, cfg.inner_objective, create_graph=False,
                                first=state.updates == 0)  # fmt: skip
            state.fast, state.updates = detached(fast), state.updates + 1
        state.steps, state.episodes = [], 0
        return state
