"""Meta-training (``GradientMetaLearner``, the shared ``Trainer``): per iteration, ``meta_batch``
tasks drawn from the family's distribution; per task ``inner_episodes`` episodes in parallel
sub-envs with the task's current fast parameters (``collect``), an inner step, again,
``num_inner_steps`` times, then the post-adaptation episodes and the outer update."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from metarl.agents.gradient.agent import GradientMetaAgent
from metarl.agents.gradient.config import GradientMetaConfig
from metarl.agents.gradient.inner import Adaptation, detached, inner_update
from metarl.agents.gradient.networks import FastParams, task_distribution, task_outputs
from metarl.agents.gradient.outer import ppo_update, trpo_update
from metarl.agents.gradient.rollout import InnerRollout, compute_advantages
from torch import Tensor

from metarl.common.config import RunConfig
from metarl.common.state import Checkpointable
from metarl.common.training_env import make_training_env
from metarl.common.trials import draw_seed, trial_steps
from metarl.core.tasks import TaskBatch


@torch.no_grad()
def collect(env: Any, adaptation: Adaptation, fast: FastParams, episodes: int, generator: torch.Generator,
            device: torch.device) -> InnerRollout:  # fmt: skip
    """One episode in each of ``env``'s ``n * episodes`` sub-envs (task ``i`` on sub-envs
    ``i * episodes ... (i + 1) * episodes - 1``, autoreset disabled), stepped in lockstep until all
    ended, acting with task ``i``'s fast parameters. Sub-envs that ended wait with invalid rows."""
    policy = adaptation.policy
    n = next(iter(fast.values())).shape[0]
    params, context = adaptation.policy_inputs(fast)
    seed = draw_seed(generator)
    time = torch.zeros(env.num_envs, dtype=torch.long, device=device)
    steps: list[dict[str, Tensor]] = []

    def act(obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        out = task_outputs(policy, params, obs.float().view(n, episodes, -1), context)
        dist = task_distribution(policy, params, out)
        action = policy.head.sample(dist, generator)
        return policy.head.to_env_action(action).flatten(0, 1), {"actions": action, "old_out": out,
                                                                "old_log_prob": dist.log_prob(action)}  # fmt: skip

    def shape(x: Tensor) -> Tensor:
        return x.view(n, episodes, *x.shape[1:])

    for step in trial_steps(env, act, episodes=1, seed=seed, device=device):
        steps.append({
            **step.extras, "obs": shape(step.obs.float()), "env_actions": shape(step.action),
            "rewards": shape(step.reward.float()), "next_obs": shape(step.next_obs.float()), "dones": shape(step.done),
            "mask": shape(step.valid), "time": shape(time.clone()),
        })  # fmt: skip
        time = time + step.valid.long()
    fields = {k: torch.stack([s[k] for s in steps]) for k in steps[0]}
    log_std = params.get("head.log_std")
    return InnerRollout(**fields, old_log_std=None if log_std is None else log_std.clone())


class GradientMetaLearner(Checkpointable):
    """Meta-training of an ``Adaptation`` on the tasks of ``env`` (the shared ``Trainer``)."""

    #: Meta-parameters (Meta-SGD rates and encoders included), optimiser, RNG streams, counters.
    state_fields = {
        "adaptation": "adaptation",
        "optimizer": "optimizer",
        "generators/learner": "generator",
        "generators/agent": "agent.generator",
        "inner_kl_coeffs": "inner_kl_coeffs",
        "env_steps": "env_steps",
        "iterations": "iterations",
        "episode_returns": "episode_returns",
    }

    def __init__(self, cfg: GradientMetaConfig, env: Any, adaptation: nn.Module, device: torch.device, seed: int,
                 name: str) -> None:  # fmt: skip
        if env.num_envs != cfg.meta_batch * cfg.inner_episodes:
            raise ValueError(f"env has {env.num_envs} sub-envs; expected meta_batch * inner_episodes = "
                             f"{cfg.meta_batch} * {cfg.inner_episodes}")  # fmt: skip
        self.cfg, self.env, self.device = cfg, env, device
        self.adaptation = adaptation.to(device)
        self.generator = torch.Generator(device).manual_seed(seed)
        self.agent = GradientMetaAgent(self.adaptation, cfg, device, seed + 1, name)
        self.optimizer = torch.optim.Adam(self.adaptation.parameters(), lr=cfg.ppo.lr) if cfg.outer != "trpo" else None
        self.inner_kl_coeffs = [cfg.promp.inner_kl_coeff] * cfg.num_inner_steps
        self.env_steps = 0
        self.iterations = 0
        self.episode_returns: list[float] = []

    def sample_tasks(self) -> TaskBatch:
        """``meta_batch`` tasks from the family's training distribution (seeded by the learner)."""
        seed = draw_seed(self.generator)
        return self.env.sample_task_batch(self.cfg.meta_batch, seed=seed)

    def collect_rollouts(self, tasks: TaskBatch) -> list[InnerRollout]:
        """Pre-adaptation episodes, an inner step, ... and the post-adaptation episodes of ``tasks``
        (task ``i`` on sub-envs ``i * inner_episodes ...``)."""
        cfg = self.cfg
        self.env.set_tasks(tasks.select(torch.arange(tasks.n).repeat_interleave(cfg.inner_episodes)))
        kind = cfg.inner_objective
        fast = detached(self.adaptation.initial(tasks.n))
        rollouts: list[InnerRollout] = []
        for k in range(cfg.num_inner_steps + 1):
            rollout = collect(self.env, self.adaptation, fast, cfg.inner_episodes, self.generator, self.device)
            rollout.advantages = compute_advantages(rollout, cfg.gamma, cfg.gae_lambda, cfg.baseline_reg)
            rollouts.append(rollout)
            self.env_steps += int(rollout.mask.sum())
            if k < cfg.num_inner_steps:
                fast = detached(inner_update(self.adaptation, fast, rollout, kind, create_graph=False, first=k == 0))
        return rollouts

    def train_iteration(self) -> dict[str, float]:
        """One meta-update on a fresh meta-batch of tasks."""
        rollouts = self.collect_rollouts(self.sample_tasks())
        returns = [r.rewards.sum(0) for r in rollouts]  # (n, R): one episode per sub-env
        self.episode_returns.extend(returns[-1].flatten().tolist())
        metrics = self.outer_update(rollouts)
        metrics["charts/return_before_adaptation"] = returns[0].mean().item()
        metrics["charts/return_after_adaptation"] = returns[-1].mean().item()
        self.iterations += 1
        return metrics

    def outer_update(self, rollouts: list[InnerRollout]) -> dict[str, float]:
        """The meta-update of ``outer``: ``metarl.agents.gradient.outer``'s ``trpo_update``, or
        ``ppo_update`` (``ppo`` and ``promp``; it also adapts ProMP's inner KL coefficients)."""
        if self.cfg.outer == "trpo":
            return trpo_update(self.adaptation, rollouts, self.cfg)
        metrics, self.inner_kl_coeffs = ppo_update(self.adaptation, self.optimizer, rollouts, self.cfg,
                                                   self.inner_kl_coeffs)  # fmt: skip
        return metrics


def make_env(run: RunConfig, cfg: GradientMetaConfig, device: torch.device) -> Any:
    """The training env: ``meta_batch * inner_episodes`` sub-envs of ``run.env``, autoreset disabled."""
    env = make_training_env(run, cfg.meta_batch * cfg.inner_episodes, device, autoreset_mode="disabled")
    if env.max_episode_steps is None:
        raise ValueError(f"{run.env.id} has no time limit; gradient-based meta-RL needs episodes of bounded length")
    return env
