"""Training the oracle: PPO rollouts on freshly drawn tasks, the stratified update, checkpoints, the factory."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from metarl.agents.oracle.agent import OracleAgent, PolicyAgent, policy_action_space
from metarl.agents.oracle.config import OracleConfig
from metarl.agents.oracle.networks import TaskFeatures, build_network
from torch import Tensor

from metarl.common.advantages import gae, normalize
from metarl.common.config import RunConfig
from metarl.common.normalization import RewardNormalizer
from metarl.common.ppo import clip_grad_and_step, ppo_losses
from metarl.common.state import Checkpointable
from metarl.common.training_env import TrainingTasks, make_training_env
from metarl.common.trials import draw_seed, trial_steps


@dataclass
class PPOBatch:
    """One rollout, time-major ``(T, N, ...)``, with its advantages and value targets, and the
    features ``(N, task_dim)`` of the sub-envs' tasks."""

    obs: Tensor
    actions: Tensor
    log_probs: Tensor
    values: Tensor
    advantages: Tensor
    returns: Tensor
    features: Tensor


def stratified_minibatches(num_steps: int, num_envs: int, num_minibatches: int, generator: torch.Generator,
                           device: torch.device) -> list[Tensor]:  # fmt: skip
    """Random minibatches of a ``(num_steps, num_envs)`` rollout as time indices ``(t_k, num_envs)``:
    column ``i`` holds steps of sub-env ``i``, shuffled independently per sub-env and split into
    ``min(num_minibatches, num_steps)`` near-equal parts. Every minibatch thus holds every sub-env,
    so per-task parameters (generated weights) are computed once per minibatch, never copied per step."""
    order = torch.rand(num_steps, num_envs, generator=generator, device=device).argsort(0)
    return list(order.tensor_split(min(num_minibatches, num_steps), dim=0))


class OracleTrainer(Checkpointable):
    """PPO for the oracle (or the ``none`` baseline) on a batched env; see the package docstring."""

    #: Networks, optimizer, normalisation statistics, generators and counters.
    state_fields = {
        "agent": "agent",
        "optimizer": "optimizer",
        "obs_rms": "agent.obs_rms",
        "reward_rms": "reward_scaler.rms",
        "generators/trainer": "generator",
        "generators/agent": "agent.generator",
        "env_steps": "env_steps",
        "iterations": "iterations",
        "updates": "updates",
        "episode_returns": "episode_returns",
    }

    def __init__(self, cfg: OracleConfig, env: Any, total_steps: int, device: torch.device, seed: int) -> None:
        self.cfg, self.env, self.device, self.total_steps = cfg, env, device, total_steps
        self.num_steps = cfg.num_steps or env.max_episode_steps
        if self.num_steps is None:
            raise ValueError("the env has no time limit (max_episode_steps=None); set oracle.num_steps")
        obs_space = env.single_observation_space
        obs_dim = int(np.prod(obs_space.shape))
        features = TaskFeatures(env.task_space, cfg.normalize_task)
        net = build_network(cfg, obs_dim, features.dim, policy_action_space(env.single_action_space))
        common = (net, features, obs_space, env.single_action_space, cfg.normalize_obs, cfg.clip_obs, device, seed)
        self.agent: PolicyAgent = (
            PolicyAgent(*common) if cfg.conditioning == "none" else OracleAgent(*common, conditioning=cfg.conditioning)
        )
        self.optimizer = torch.optim.Adam(self.agent.net.parameters(), lr=cfg.ppo.lr, eps=cfg.adam_eps)
        self.reward_scaler = RewardNormalizer(env.num_envs, cfg.ppo.gamma, cfg.clip_reward, "episode", device) if cfg.normalize_reward else None
        self.generator = torch.Generator(device).manual_seed(seed + 1)
        self.training_tasks = TrainingTasks(env, cfg.task_source, self.generator)
        self.env_steps = 0
        self.iterations = 0
        self.updates = 0
        self.episode_returns: list[float] = []

    # ----- data collection -------------------------------------------------------------------------
    @torch.no_grad()
    def collect(self) -> PPOBatch:
        """``num_steps`` steps of every sub-env from fresh episodes on freshly drawn tasks."""
        env, agent, net, ppo = self.env, self.agent, self.agent.net, self.cfg.ppo
        env.set_tasks(self.training_tasks.draw())
        features = agent.features(env.get_tasks())
        condition = net.condition(features)
        seed = draw_seed(self.generator)
        if self.reward_scaler is not None:
            self.reward_scaler.restart()
        steps: dict[str, list[Tensor]] = defaultdict(list)

        def act(obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
            x = agent.observation(obs, update=True)
            dist, value = net(x, condition)
            action = net.head.sample(dist, self.generator)
            return agent.to_env_action(action), {"obs": x, "actions": action, "log_probs": dist.log_prob(action),
                                                 "values": value}  # fmt: skip

        for step in trial_steps(env, act, steps=self.num_steps, seed=seed, device=self.device):
            steps["finished"].append(step.episode_return)
            scaled = self.reward_scaler.step(step.reward, step.done) if self.reward_scaler is not None else step.reward.float()
            cut = step.truncated & ~step.terminated
            if bool(cut.any()):  # proper time limits: bootstrap a truncated episode from its last state
                _, final_value = net(agent.observation(step.final_obs), condition)
                scaled = scaled + ppo.gamma * final_value * cut
            for key, t in (*step.extras.items(), ("rewards", scaled), ("dones", step.done)):
                steps[key].append(t)
        _, last_value = net(agent.observation(step.next_obs), condition)
        batch = {k: torch.stack(v) for k, v in steps.items()}
        advantages, returns = gae(batch["rewards"], batch["values"], batch["dones"], last_value, ppo.gamma, ppo.gae_lambda)
        finished = batch["finished"]
        self.episode_returns.extend(finished[~finished.isnan()].tolist())
        self.env_steps += self.num_steps * env.num_envs
        return PPOBatch(batch["obs"], batch["actions"], batch["log_probs"], batch["values"], advantages, returns, features)

    # ----- update --------------------------------------------------------------------------------
    def update(self, rollout: PPOBatch) -> dict[str, float]:
        """PPO epochs over minibatches that each hold an equal, random share of every sub-env's steps."""
        ppo, net = self.cfg.ppo, self.agent.net
        T, n = rollout.values.shape
        collected_before = self.env_steps - T * n  # as CleanRL: the fraction left when the rollout began
        lr = ppo.lr * max(0.0, 1.0 - collected_before / self.total_steps) if self.cfg.anneal_lr else ppo.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sums: dict[str, float] = defaultdict(float)
        count = 0
        columns = torch.arange(n, device=self.device)
        for _ in range(ppo.epochs):
            for steps in stratified_minibatches(T, n, ppo.num_minibatches, self.generator, self.device):
                mb = {k: getattr(rollout, k)[steps, columns] for k in ("obs", "actions", "log_probs", "values", "advantages", "returns")}
                dist, value = net(mb["obs"], net.condition(rollout.features))
                advantages = normalize(mb["advantages"]) if ppo.normalize_advantages else mb["advantages"]
                losses = ppo_losses(ppo, dist.log_prob(mb["actions"]), mb["log_probs"], advantages, dist.entropy(), value,
                                    mb["values"], mb["returns"])  # fmt: skip
                grad_norm = clip_grad_and_step(self.optimizer, losses.total(ppo), ppo.max_grad_norm)
                for key, v in {**losses.metrics(), "losses/grad_norm": grad_norm}.items():
                    sums[key] += v
                count += 1
                self.updates += 1
        metrics = {k: v / count for k, v in sums.items()}
        residual = (rollout.returns - rollout.values).var() / rollout.returns.var().clamp(min=1e-8)
        metrics["losses/explained_variance"] = float(1.0 - residual)
        metrics["charts/learning_rate"] = lr
        return metrics

    def train_iteration(self) -> dict[str, float]:
        """One rollout and its PPO update."""
        metrics = self.update(self.collect())
        self.iterations += 1
        return metrics


def make_oracle_trainer(cfg: RunConfig, device: torch.device) -> OracleTrainer:
    """The oracle (or the ``none`` baseline) on ``cfg.env``: ``num_envs`` sub-envs on ``device``."""
    oracle: OracleConfig = cfg.agent_config
    env = make_training_env(cfg, oracle.num_envs, device)
    return OracleTrainer(oracle, env, cfg.train.total_steps, device, cfg.seed)
