"""VariBAD training: the learner that collects trials, updates the policy and the VAE, and checkpoints."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
from gymnasium import spaces
from metarl.agents.varibad.agent import VariBADAgent
from metarl.agents.varibad.collection import REWARD_CLIP, Trial, collect_trial, task_vectors
from metarl.agents.varibad.config import VariBADConfig
from metarl.agents.varibad.losses import ELBO
from metarl.agents.varibad.networks import GridCells, RewardDecoder, StateDecoder, TaskDecoder
from metarl.agents.varibad.ppo import PolicyUpdate
from torch import Tensor

from metarl.common.config import RunConfig
from metarl.common.normalization import RewardNormalizer
from metarl.common.replay import TrialBuffer
from metarl.common.state import Checkpointable
from metarl.common.training_env import TrainingTasks, make_training_env
from metarl.core.spaces import check_action_space
from metarl.core.vector import TaskVectorEnv


class VariBADLearner(Checkpointable):
    """VariBAD training: whole trials on fresh tasks, then PPO on the policy and VAE updates.

    ``env`` is a batched env with same-step autoreset; ``seed`` seeds every random stream (the
    agent's from ``seed``, the learner's from ``seed + 1``); ``total_steps``, the length of
    training in env steps, sets the schedule of ``policy_anneal_lr``.
    """

    #: Networks, normalisation statistics, optimizers, the VAE buffer, RNG streams and counters.
    #: Nothing of the envs: every iteration starts fresh trials from the learner's generator.
    state_fields = {
        "agent": "agent",
        "decoders": "decoders",
        "statistics/state": "agent.policy.state_rms",
        "statistics/latent": "agent.policy.latent_rms",
        "statistics/return": "rewards.rms",
        "optimizers/policy": "policy_optimizer",
        "optimizers/vae": "vae_optimizer",
        "buffer": "buffer",
        "generators/agent": "agent.generator",
        "generators/learner": "generator",
        "env_steps": "env_steps",
        "iterations": "iterations",
        "policy_updates": "policy_updates",
        "episode_returns": "episode_returns",
    }

    def __init__(self, cfg: VariBADConfig, env: TaskVectorEnv, device: torch.device, seed: int,
                 total_steps: int | None = None) -> None:  # fmt: skip
        obs_space = env.single_observation_space
        if not (isinstance(obs_space, spaces.Box) and len(obs_space.shape) == 1):
            raise ValueError(f"VariBAD needs a 1-D Box observation space; {env.family!r} has {obs_space!r}")
        check_action_space(env.single_action_space)
        if env.max_episode_steps is None:
            raise ValueError("VariBAD needs episodes of bounded length; the env has max_episode_steps=None")
        self.cfg, self.env, self.device = cfg, env, device
        self.trial_episodes = cfg.trial_episodes or env.family.trial_episodes
        self.trial_steps = self.trial_episodes * env.max_episode_steps
        add_done_info = self.trial_episodes > 1 if cfg.add_done_info is None else cfg.add_done_info
        self.agent = VariBADAgent(cfg, obs_space, env.single_action_space, add_done_info, device, seed)
        self.obs_dim = int(obs_space.shape[0])
        self.task_names = list(env.task_space.spaces)
        self.cells = GridCells(obs_space, device) if cfg.decode_reward and cfg.multihead_for_reward else None
        self.task_table = self._task_table() if cfg.decode_task and cfg.task_pred_type == "task_id" else None
        self.decoders = self._decoders().to(device)
        self.policy_optimizer = torch.optim.Adam(self.agent.policy.parameters(), lr=cfg.ppo.lr, eps=1e-8)
        self.vae_optimizer = torch.optim.Adam([*self.agent.encoder.parameters(), *self.decoders.parameters()], lr=cfg.lr_vae)
        self.generator = torch.Generator(device).manual_seed(seed + 1)  # tasks, env seeds, actions, batches, noise
        self.training_tasks = TrainingTasks(env, cfg.task_source, self.generator)
        self.rewards = RewardNormalizer(env.num_envs, cfg.ppo.gamma, REWARD_CLIP, "trial", device)
        self.buffer = TrialBuffer(cfg.vae_buffer_size, device)
        self.elbo = ELBO(cfg, self.agent.encoder, self.decoders, self.obs_dim, self.cells, self.task_table, self.generator, device)
        self.ppo = PolicyUpdate(cfg, self.agent, self.policy_optimizer, self.vae_optimizer, self.vae_loss, self.generator)
        steps_per_iteration = env.num_envs * self.trial_steps * cfg.trials_per_iteration
        self.total_iterations = math.ceil(total_steps / steps_per_iteration) if total_steps else None
        if cfg.policy_anneal_lr and self.total_iterations is None:
            raise ValueError("policy_anneal_lr needs the length of training: pass total_steps")
        self.env_steps = 0
        self.iterations = 0
        self.policy_updates = 0
        # One value per trial batch: the mean episode return of its trials.
        self.episode_returns: list[float] = []

    def _task_table(self) -> Tensor:
        every = self.env.family.enumerate_tasks()
        if every is None:
            raise ValueError(
                f"task_pred_type 'task_id' needs a family with an enumerable task set; {self.env.family!r} has none; "
                "allowed: task_pred_type: task_description"
            )
        stacked = {k: torch.as_tensor(np.stack([t[k] for t in every]), device=self.device) for k in self.task_names}
        return task_vectors(stacked, self.task_names)

    def _decoders(self) -> nn.ModuleDict:
        cfg, a = self.cfg, self.agent
        decoders = nn.ModuleDict()
        if cfg.decode_reward:
            decoders["reward"] = RewardDecoder(cfg, a.state_dim, a.action_features, self.cells.count if self.cells else None)
        if cfg.decode_state:
            decoders["state"] = StateDecoder(cfg, a.state_dim, a.action_features)
        if cfg.decode_task:
            task_dim = task_vectors(self.env.get_tasks(), self.task_names).shape[1]
            decoders["task"] = TaskDecoder(cfg, len(self.task_table) if self.task_table is not None else task_dim)
        return decoders

    # ----- the loop ----------------------------------------------------------------------------------
    def train_iteration(self) -> dict[str, float]:
        """Collect ``trials_per_iteration`` trials (into the VAE buffer with probability
        ``vae_buffer_add_thresh``); once ``precollect_len`` steps are collected, and never on the
        first iteration (as the repo), update the policy with PPO and then the VAE."""
        cfg = self.cfg
        trials = []
        for _ in range(cfg.trials_per_iteration):
            trial = self.collect()
            trials.append(trial)
            u = torch.rand((), generator=self.generator, device=self.device)
            if self.buffer.size == 0 or float(u) <= cfg.vae_buffer_add_thresh:
                self.buffer.add(trial.vae)
        metrics: dict[str, float] = {}
        if self.env_steps >= cfg.precollect_len and self.iterations > 0:
            metrics.update(self.update_policy(trials))
            if not cfg.rlloss_through_encoder:
                metrics.update(self.update_vae())
        self.iterations += 1
        trial_return = torch.stack([tr.reward.sum(0) for tr in trials])
        for tr in trials:
            self.episode_returns.extend(tr.episode_return[tr.episode_return.isfinite()].tolist())
        metrics["charts/trial_return"] = float(trial_return.mean())
        latent = trials[-1].latent[trials[-1].valid]
        metrics["encoder/latent_mean"] = float(latent[:, : cfg.latent_dim].mean())
        metrics["encoder/latent_logvar"] = float(latent[:, cfg.latent_dim :].mean())
        return metrics

    def collect(self) -> Trial:
        """One trial on every sub-env, all stepped together, from the prior belief on new tasks."""
        cfg = self.cfg
        trial = collect_trial(self.env, self.agent, self.training_tasks, self.generator, self.trial_episodes,
                              self.rewards if cfg.norm_rew_for_policy else None,
                              self.task_names if cfg.decode_task else None)  # fmt: skip
        self.env_steps += self.env.num_envs * self.trial_steps
        return trial

    # ----- policy ----------------------------------------------------------------------------------
    def update_policy(self, trials: list[Trial]) -> dict[str, float]:
        """PPO on the valid steps of the trials (``PolicyUpdate``), at the learning rate of the
        ``policy_anneal_lr`` schedule."""
        if self.cfg.policy_anneal_lr:
            self._anneal()
        metrics = self.ppo(trials)
        self.policy_updates += 1
        return metrics

    def _anneal(self) -> None:
        """The repo's ``policy_anneal_lr``: learning rate ``lr * (1 - updates / iterations)`` for the
        policy (and for the VAE when ``rlloss_through_encoder``)."""
        fraction = max(0.0, 1.0 - self.policy_updates / self.total_iterations)
        optimizers = [(self.policy_optimizer, self.cfg.ppo.lr)]
        if self.cfg.rlloss_through_encoder:
            optimizers.append((self.vae_optimizer, self.cfg.lr_vae))
        for optimizer, lr in optimizers:
            for group in optimizer.param_groups:
                group["lr"] = lr * fraction

    # ----- VAE -------------------------------------------------------------------------------------
    def vae_loss(self) -> tuple[Tensor, dict[str, float]]:
        """The negative ELBO (``ELBO``) on ``vae_batch_num_trajs`` trials drawn from the buffer, and its terms."""
        return self.elbo(self.buffer.sample(self.cfg.vae_batch_num_trajs, self.generator))

    def update_vae(self) -> dict[str, float]:
        """``num_vae_updates`` steps on the ELBO; the last step's losses."""
        metrics: dict[str, float] = {}
        for _ in range(self.cfg.num_vae_updates):
            loss, metrics = self.vae_loss()
            self.vae_step(loss)
        return metrics

    def vae_step(self, loss: Tensor) -> None:
        """One Adam step of encoder and decoders, each gradient clipped as configured."""
        cfg = self.cfg
        self.vae_optimizer.zero_grad()
        loss.backward()
        if cfg.encoder_max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.agent.encoder.parameters(), cfg.encoder_max_grad_norm)
        if cfg.decoder_max_grad_norm is not None:
            for decoder in self.decoders.values():
                nn.utils.clip_grad_norm_(decoder.parameters(), cfg.decoder_max_grad_norm)
        self.vae_optimizer.step()


def make_varibad_trainer(cfg: RunConfig, device: torch.device) -> VariBADLearner:
    """VariBAD on ``cfg.env``: ``num_envs`` sub-envs with same-step autoreset, one task each per trial."""
    varibad: VariBADConfig = cfg.agent_config
    env = make_training_env(cfg, varibad.num_envs, device)
    return VariBADLearner(varibad, env, device, cfg.seed, cfg.train.total_steps)
