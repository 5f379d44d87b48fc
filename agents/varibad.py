"""VariBAD: a variational belief over the task, and a policy conditioned on it (Zintgraf et al., 2020).

"VariBAD: A Very Good Method for Bayes-Adaptive Deep RL via Meta-Learning", following the
reference implementation (lmzintgraf/varibad: ``metalearner.py``, ``vae.py``, ``models/``,
``algorithms/ppo.py``) in its algorithmic details:

- a trial (the BAMDP's episode) is ``trial_episodes`` consecutive episodes on one task; the
  encoder's belief carries over episode boundaries and restarts from the prior with a new task;
- encoder: embeddings of action, state and reward (``Linear + ReLU`` each; size 0 drops the
  input), optional ReLU layers, a GRU, optional ReLU layers, and linear heads for the mean and
  log-variance of a Gaussian posterior ``q(m | tau_{:t})`` over a latent task variable ``m``;
  the prior (``t = 0``) is the same heads applied to the GRU's initial (zero) hidden state;
- decoders reconstruct, from a sample of the posterior after every timestep ``t``, the rewards
  (and optionally the next states, or the task) of *all* timesteps of the trial, past and future
  (``decode_only_past`` restricts them to the past); the reward decoder is either one head per
  state of a discrete grid (``multihead_for_reward``, a Bernoulli probability of the reward
  being 1) or a network of (next state, previous state, action);
- the ELBO terms ``t = 0..H`` add ``kl_weight * KL(q_t || q_{t-1})`` (``q_{-1} = N(0, I)``; with
  ``kl_to_gauss_prior`` ``KL(q_t || N(0, I))``); ``vae_subsample_elbos`` and
  ``vae_subsample_decodes`` draw a random subset of the ELBO terms and of the decoded timesteps
  per trajectory, to bound the cost of long trials; terms are summed (or averaged) as the repo;
- the VAE is trained off-policy: ``num_vae_updates`` Adam steps per iteration on batches of
  ``vae_batch_num_trajs`` trials from a ring buffer of the ``vae_buffer_size`` most recent trials;
- the policy sees ``[state, latent mean, latent log-variance]``, each normalised by running
  statistics and embedded (``tanh``), with separate actor and critic MLPs (normc initialisation),
  and is trained with PPO (``metarl.common.onpolicy``; clipped Huber value loss, advantages normalised
  over the batch) on rewards divided by the running std of the discounted trial return
  (``norm_rew_for_policy``); the encoder is trained by the VAE loss only, unless
  ``rlloss_through_encoder`` (then the PPO loss plus ``vae_loss_coeff`` times the VAE loss are
  minimised jointly, the latents recomputed with gradients for every minibatch, as the paper's
  ablation); ``use_proper_time_limits`` zeroes the advantage of time-limit steps (MuJoCo configs).

Batched on the device: ``num_envs`` sub-envs of one ``gymnasium.make_vec(...,
vectorization_mode="vector_entry_point")`` env with same-step autoreset (a sub-env keeps its task
across its episodes) step together; the only Python loops are over time.

Departures from the repo, each for a reason:

- An iteration collects ``trials_per_iteration`` whole trials on every sub-env, all sub-envs
  starting a trial together on fresh tasks (the repo continues ``policy_num_steps``-step rollouts
  across iterations). This equals the repo wherever ``policy_num_steps`` is a multiple of the
  trial length (gridworld 60 = 1 trial, cheetah-vel 400 = 1, cheetah-dir 800 = 2), keeps the
  checkpoint free of simulator state (resume is exact) and gives each trial the prior at its
  start (the repo encodes the last transition of the old trial into the first latent of the new
  one when a trial ends mid-rollout). Ant-dir's 200-step rollouts (half a trial) become one trial.
  Where episodes can end early, a sub-env's trial ends with its ``trial_episodes``-th episode and
  its remaining steps are masked out (the trials ``metarl.runner.evaluation`` runs).
- The policy acts on the true first observation of each new episode (gymnasium's autoreset); the
  repo acts once more on the terminal observation with a done flag. The encoder and decoders
  still see the repo's done flag appended to the state (``add_done_info``, on for trials of more
  than one episode), 1 on the transition that ended an episode.
- Discrete actions enter the encoder and decoders one-hot (``metarl.common.onpolicy.encode_action``; the
  repo feeds the action index as one number); Box actions are the clipped actions the env saw.
- Tasks for training trials are drawn from the family's distribution (the repo's
  ``reset_task``); ``task_source="train_set"`` draws from the fixed training set instead.
- Not implemented: A2C, ``pretrain_len`` (VAE pre-training), ``sample_embeddings``,
  ``disable_stochasticity_in_latent``, ``disable_decoder``, ``disable_kl_term`` (use
  ``kl_weight: 0``), ``add_nonlinearity_to_latent`` and ``norm_actions_post_sampling``: none is
  used by the repo's VariBAD configs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from gymnasium import spaces
from torch import Tensor
from torch.distributions import Distribution

from metarl.common.checks import check
from metarl.common.config import RunConfig
from metarl.common.onpolicy import (
    ActionHead,
    PPOConfig,
    RunningMeanStd,
    clip_grad_and_step,
    encode_action,
    gae,
    minibatch_indices,
    normalize,
    ppo_losses,
)
from metarl.common.protocol import Transition
from metarl.common.training_env import TrainingTasks, TrainingTaskSource, make_training_env
from metarl.core.spaces import action_dim, check_action_space
from metarl.core.tasks import TaskBatch
from metarl.core.vector import TaskVectorEnv

#: At most this many cells for ``multihead_for_reward`` (one output head per cell).
MAX_REWARD_HEADS = 4096
#: VecNormalize's bound on the scaled rewards (``cliprew``).
REWARD_CLIP = 10.0


def _repo_ppo() -> PPOConfig:
    """The PPO settings of VariBAD's MuJoCo configs (``args_cheetah_vel_varibad.py``)."""
    return PPOConfig(
        lr=7e-4, epochs=2, num_minibatches=8, clip=0.1, value_clip=0.1, value_loss="huber",
        value_coef=0.5, entropy_coef=0.01, max_grad_norm=0.5, gamma=0.97, gae_lambda=0.9,
    )  # fmt: skip


@dataclass
class VariBADConfig:
    """VariBAD hyperparameters. Defaults are the repo's ``args_cheetah_vel_varibad.py`` (names as
    the repo's flags, except where a comment says otherwise); ``configs/varibad/`` holds the
    other reference settings."""

    # --- trials and data collection
    num_envs: int = 16  # sub-envs stepped together (repo: num_processes)
    trial_episodes: int | None = None  # episodes per trial; None: the family's (repo: max_rollouts_per_task)
    trials_per_iteration: int = 1  # whole trials per sub-env between updates (repo: policy_num_steps)
    task_source: TrainingTaskSource = "distribution"
    precollect_len: int = 5000  # env steps collected before the first update
    # --- policy
    policy_layers: list[int] = field(default_factory=lambda: [128, 128])
    policy_activation: Literal["tanh", "relu", "leaky-relu"] = "tanh"  # repo: policy_activation_function
    policy_initialisation: Literal["normc", "orthogonal"] = "normc"
    policy_state_embedding_dim: int | None = 64  # None: the state enters the MLPs as it is
    policy_latent_embedding_dim: int | None = 64
    norm_state_for_policy: bool = True
    norm_latent_for_policy: bool = True
    norm_rew_for_policy: bool = True
    norm_actions_pre_sampling: bool = False  # tanh on the Gaussian mean (Box actions)
    policy_init_std: float = 1.0
    use_proper_time_limits: bool = True
    policy_anneal_lr: bool = False  # policy lr decays linearly to 0 over train.total_steps
    ppo: PPOConfig = field(default_factory=_repo_ppo)  # repo: lr_policy, ppo_*, policy_* (gamma, tau, ...)
    # --- VAE training
    lr_vae: float = 1e-3
    vae_buffer_size: int = 10_000  # trials (repo: size_vae_buffer)
    vae_buffer_add_thresh: float = 1.0  # probability that a collected batch of trials enters the buffer
    vae_batch_num_trajs: int = 10
    tbptt_stepsize: int | None = 50  # None: backpropagate through whole trials
    vae_subsample_elbos: int | None = 50  # None: every ELBO term
    vae_subsample_decodes: int | None = 50  # None: every timestep
    vae_avg_elbo_terms: bool = False
    vae_avg_reconstruction_terms: bool = False
    num_vae_updates: int = 1
    kl_weight: float = 0.1
    kl_to_gauss_prior: bool = False
    decode_only_past: bool = False
    encoder_max_grad_norm: float | None = 1.0
    decoder_max_grad_norm: float | None = 1.0
    rlloss_through_encoder: bool = False
    vae_loss_coeff: float = 1.0  # weight of the VAE loss in the joint loss of rlloss_through_encoder
    # --- encoder
    action_embedding_size: int = 16
    state_embedding_size: int = 32
    reward_embedding_size: int = 16
    encoder_layers_before_gru: list[int] = field(default_factory=list)
    encoder_gru_hidden_size: int = 128
    encoder_layers_after_gru: list[int] = field(default_factory=list)
    latent_dim: int = 5
    add_done_info: bool | None = None  # None: when a trial has more than one episode (repo's rule)
    # --- reward decoder
    decode_reward: bool = True
    rew_loss_coeff: float = 1.0
    input_prev_state: bool = True
    input_action: bool = True
    reward_decoder_layers: list[int] = field(default_factory=lambda: [64, 32])
    multihead_for_reward: bool = False
    rew_pred_type: Literal["bernoulli", "categorical", "deterministic"] = "deterministic"
    # --- state-transition decoder
    decode_state: bool = False
    state_loss_coeff: float = 1.0
    state_decoder_layers: list[int] = field(default_factory=lambda: [64, 32])
    state_pred_type: Literal["deterministic", "gaussian"] = "deterministic"
    # --- task decoder (the repo's "VariBAD oracle" variant)
    decode_task: bool = False
    task_loss_coeff: float = 1.0
    task_decoder_layers: list[int] = field(default_factory=lambda: [64, 32])
    task_pred_type: Literal["task_id", "task_description"] = "task_id"

    def __post_init__(self) -> None:
        positive = ("num_envs", "trials_per_iteration", "policy_init_std", "lr_vae", "vae_buffer_size",
                    "vae_batch_num_trajs", "num_vae_updates", "encoder_gru_hidden_size", "latent_dim")  # fmt: skip
        for name in positive:
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        for name in ("trial_episodes", "tbptt_stepsize", "vae_subsample_elbos", "vae_subsample_decodes",
                     "policy_state_embedding_dim", "policy_latent_embedding_dim", "encoder_max_grad_norm",
                     "decoder_max_grad_norm"):  # fmt: skip
            value = getattr(self, name)
            check(value is None or value > 0, name, value, "null or > 0")
        nonnegative = ("precollect_len", "kl_weight", "vae_loss_coeff", "action_embedding_size", "state_embedding_size",
                       "reward_embedding_size", "rew_loss_coeff", "state_loss_coeff", "task_loss_coeff")  # fmt: skip
        for name in nonnegative:
            check(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        check(0 <= self.vae_buffer_add_thresh <= 1, "vae_buffer_add_thresh", self.vae_buffer_add_thresh, "[0, 1]")
        check(self.vae_buffer_size >= self.num_envs, "vae_buffer_size", self.vae_buffer_size,
              f">= num_envs ({self.num_envs}): the buffer holds at least one batch of trials")  # fmt: skip
        check(bool(self.policy_layers), "policy_layers", self.policy_layers, "a non-empty list of layer widths")
        for name in ("policy_layers", "encoder_layers_before_gru", "encoder_layers_after_gru", "reward_decoder_layers",
                     "state_decoder_layers", "task_decoder_layers"):  # fmt: skip
            widths = getattr(self, name)
            check(all(w > 0 for w in widths), name, widths, "layer widths > 0")
        embedded = self.action_embedding_size + self.state_embedding_size + self.reward_embedding_size
        check(embedded > 0, "state_embedding_size", self.state_embedding_size,
              "> 0 when action_embedding_size and reward_embedding_size are 0: the encoder needs an input")  # fmt: skip
        check(self.decode_reward or self.decode_state or self.decode_task, "decode_reward", self.decode_reward,
              "true unless decode_state or decode_task is: the VAE needs a decoder")  # fmt: skip
        check(self.rew_pred_type != "categorical" or self.multihead_for_reward, "rew_pred_type", self.rew_pred_type,
              "'bernoulli' or 'deterministic' without multihead_for_reward ('categorical' is a softmax over heads)")  # fmt: skip


# ----- networks ------------------------------------------------------------------------------------
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU, "leaky-relu": nn.LeakyReLU}
_GAIN_NAMES = {"tanh": "tanh", "relu": "relu", "leaky-relu": "leaky_relu"}


def normc_(weight: Tensor, gain: float = 1.0) -> Tensor:
    """OpenAI baselines' normc initialisation: Gaussian rows scaled to norm ``gain``."""
    with torch.no_grad():
        weight.normal_(0.0, 1.0)
        weight.mul_(gain / weight.square().sum(1, keepdim=True).sqrt())
    return weight


class Embedding(nn.Module):
    """``Linear + activation`` to ``size`` features; ``size`` 0 drops the input (the repo's
    ``FeatureExtractor``)."""

    def __init__(self, inputs: int, size: int, activation: nn.Module) -> None:
        super().__init__()
        self.size = size
        self.linear = nn.Linear(inputs, size) if size > 0 else None
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        if self.linear is None:
            return x.new_zeros(*x.shape[:-1], 0)
        return self.activation(self.linear(x))


def relu_layers(inputs: int, widths: list[int]) -> tuple[nn.Sequential, int]:
    """``Linear + ReLU`` per width (PyTorch's default initialisation) and the output width."""
    layers: list[nn.Module] = []
    for width in widths:
        layers += [nn.Linear(inputs, width), nn.ReLU()]
        inputs = width
    return nn.Sequential(*layers), inputs


class BeliefEncoder(nn.Module):
    """The recurrent encoder: transitions ``(a, r, s')`` -> Gaussian posterior over the latent task.

    ``state`` inputs are next states (with the done flag when ``add_done_info``), ``action`` inputs
    are ``encode_action`` features, rewards have a trailing dim of 1.
    """

    def __init__(self, cfg: VariBADConfig, state_dim: int, action_features: int) -> None:
        super().__init__()
        self.hidden_size = cfg.encoder_gru_hidden_size
        self.state_embed = Embedding(state_dim, cfg.state_embedding_size, nn.ReLU())
        self.action_embed = Embedding(action_features, cfg.action_embedding_size, nn.ReLU())
        self.reward_embed = Embedding(1, cfg.reward_embedding_size, nn.ReLU())
        embedded = cfg.state_embedding_size + cfg.action_embedding_size + cfg.reward_embedding_size
        self.before_gru, width = relu_layers(embedded, cfg.encoder_layers_before_gru)
        self.gru = nn.GRU(width, self.hidden_size)
        for name, p in self.gru.named_parameters():
            nn.init.zeros_(p) if "bias" in name else nn.init.orthogonal_(p)
        self.after_gru, width = relu_layers(self.hidden_size, cfg.encoder_layers_after_gru)
        self.fc_mean = nn.Linear(width, cfg.latent_dim)
        self.fc_logvar = nn.Linear(width, cfg.latent_dim)

    def gaussian(self, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """Mean and log-variance of the posterior from GRU hidden states ``(..., hidden_size)``."""
        h = self.after_gru(hidden)
        return self.fc_mean(h), self.fc_logvar(h)

    def prior(self, n: int) -> tuple[Tensor, Tensor, Tensor]:
        """The initial hidden state (zeros, ``(n, hidden_size)``) and the prior's mean and log-variance."""
        hidden = torch.zeros(n, self.hidden_size, device=self.fc_mean.weight.device)
        return (hidden, *self.gaussian(hidden))

    def _inputs(self, action: Tensor, state: Tensor, reward: Tensor) -> Tensor:
        x = torch.cat([self.action_embed(action), self.state_embed(state), self.reward_embed(reward)], dim=-1)
        return self.before_gru(x)

    def step(self, hidden: Tensor, action: Tensor, state: Tensor, reward: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The belief after one more transition per row: new hidden ``(n, H)``, mean and log-variance."""
        out, _ = self.gru(self._inputs(action, state, reward)[None], hidden[None])
        return (out[0], *self.gaussian(out[0]))

    def forward(self, actions: Tensor, states: Tensor, rewards: Tensor, detach_every: int | None = None) -> tuple[Tensor, Tensor]:
        """Posteriors along time-major sequences ``(T, N, ...)`` from the prior: mean and log-variance
        ``(T + 1, N, latent_dim)``, index ``t`` after ``t`` transitions. ``detach_every`` truncates
        backpropagation through time to chunks of that many steps."""
        x = self._inputs(actions, states, rewards)
        hidden = torch.zeros(1, x.shape[1], self.hidden_size, device=x.device)
        chunk = detach_every or max(x.shape[0], 1)
        outputs = [hidden]
        for start in range(0, x.shape[0], chunk):
            out, hidden = self.gru(x[start : start + chunk], hidden)
            outputs.append(out)
            hidden = hidden.detach()
        return self.gaussian(torch.cat(outputs))


class BeliefPolicy(nn.Module):
    """Actor-critic on ``[state, latent mean, latent log-variance]`` (the repo's ``models/policy.py``).

    Inputs are normalised by running statistics (updated from each training batch) and embedded;
    actor and critic are separate MLPs; the action distribution comes from ``ActionHead``.
    """

    def __init__(self, cfg: VariBADConfig, obs_dim: int, action_space: spaces.Space, device: torch.device) -> None:
        super().__init__()
        self.cfg = cfg
        latent_inputs = 2 * cfg.latent_dim
        activation = ACTIVATIONS[cfg.policy_activation]
        self.state_embed = self._embedding(obs_dim, cfg.policy_state_embedding_dim, activation)
        self.latent_embed = self._embedding(latent_inputs, cfg.policy_latent_embedding_dim, activation)
        width = (cfg.policy_state_embedding_dim or obs_dim) + (cfg.policy_latent_embedding_dim or latent_inputs)
        self.actor = self._hidden_layers(width)
        self.critic = self._hidden_layers(width)
        self.value_head = nn.Linear(cfg.policy_layers[-1], 1)
        self.head = ActionHead(cfg.policy_layers[-1], action_space, init_log_std=math.log(cfg.policy_init_std))
        if not self.head.discrete:  # the repo's DiagGaussian: normc mean layer (the Categorical matches ActionHead)
            normc_(self.head.linear.weight)
        self.to(device)
        self.state_rms = RunningMeanStd((obs_dim,), device=device)
        self.latent_rms = RunningMeanStd((latent_inputs,), device=device)

    @staticmethod
    def _embedding(inputs: int, size: int | None, activation: type[nn.Module]) -> nn.Module:
        return nn.Identity() if size is None else Embedding(inputs, size, activation())

    def _hidden_layers(self, inputs: int) -> nn.Sequential:
        cfg = self.cfg
        gain = nn.init.calculate_gain(_GAIN_NAMES[cfg.policy_activation])
        layers: list[nn.Module] = []
        for width in cfg.policy_layers:
            linear = nn.Linear(inputs, width)
            normc_(linear.weight, gain) if cfg.policy_initialisation == "normc" else nn.init.orthogonal_(linear.weight, gain)
            nn.init.zeros_(linear.bias)
            layers += [linear, ACTIVATIONS[cfg.policy_activation]()]
            inputs = width
        return nn.Sequential(*layers)

    def update_normalisation(self, obs: Tensor, latent: Tensor) -> None:
        """Fold a training batch ``(M, ...)`` into the input statistics (the repo's ``update_rms``)."""
        if self.cfg.norm_state_for_policy:
            self.state_rms.update(obs)
        if self.cfg.norm_latent_for_policy:
            self.latent_rms.update(latent)

    def forward(self, obs: Tensor, latent: Tensor) -> tuple[Distribution, Tensor]:
        """The action distribution and the value for observations and latents ``(..., dim)``."""
        obs, latent = obs.float(), latent.float()
        if self.cfg.norm_state_for_policy:
            obs = ((obs - self.state_rms.mean) / self.state_rms.std()).float()
        if self.cfg.norm_latent_for_policy:
            latent = ((latent - self.latent_rms.mean) / self.latent_rms.std()).float()
        x = torch.cat([self.state_embed(obs), self.latent_embed(latent)], dim=-1)
        out = self.head.linear(self.actor(x))
        if self.cfg.norm_actions_pre_sampling and not self.head.discrete:
            out = torch.tanh(out)
        return self.head.distribution(out), self.value_head(self.critic(x)).squeeze(-1)


class GridCells:
    """Index of the cell of integer-grid observations (a ``Box`` with integer bounds), for the
    reward decoder's one head per cell; the repo's gridworld ``task_to_id``."""

    def __init__(self, space: spaces.Space, device: torch.device) -> None:
        ok = isinstance(space, spaces.Box) and len(space.shape) == 1 and space.is_bounded("both")
        if ok:
            low, high = space.low.astype(np.float64), space.high.astype(np.float64)
            ok = bool((low == np.round(low)).all() and (high == np.round(high)).all())
        cells = np.round(high - low + 1).astype(np.int64) if ok else np.zeros(1, np.int64)
        if not ok or int(np.prod(cells)) > MAX_REWARD_HEADS:
            raise ValueError(
                f"multihead_for_reward needs a grid observation space (a 1-D Box with integer bounds and at most "
                f"{MAX_REWARD_HEADS} cells), got {space!r}; set multihead_for_reward: false"
            )
        self.count = int(np.prod(cells))
        strides = np.concatenate([np.cumprod(cells[::-1])[::-1][1:], [1]])  # row-major: the last coordinate fastest
        self.low = torch.as_tensor(low, dtype=torch.float32, device=device)
        self.strides = torch.as_tensor(strides, dtype=torch.int64, device=device)

    def __call__(self, obs: Tensor) -> Tensor:
        return ((obs - self.low).round().long() * self.strides).sum(-1)


class RewardDecoder(nn.Module):
    """``p(r | m, s', s, a)``: one output per grid cell of ``s'`` (``multihead_for_reward``) or one
    output from the embedded next state (and previous state and action when configured)."""

    def __init__(self, cfg: VariBADConfig, state_dim: int, action_features: int, heads: int | None) -> None:
        super().__init__()
        self.cfg = cfg
        if cfg.multihead_for_reward:
            self.body, width = relu_layers(cfg.latent_dim, cfg.reward_decoder_layers)
            self.out = nn.Linear(width, heads)
            return
        self.state_embed = Embedding(state_dim, cfg.state_embedding_size, nn.ReLU())
        self.action_embed = Embedding(action_features, cfg.action_embedding_size, nn.ReLU()) if cfg.input_action else None
        inputs = cfg.latent_dim + cfg.state_embedding_size * (1 + cfg.input_prev_state)
        inputs += cfg.action_embedding_size if cfg.input_action else 0
        self.body, width = relu_layers(inputs, cfg.reward_decoder_layers)
        self.out = nn.Linear(width, 1)

    def forward(self, latent: Tensor, next_state: Tensor | None, prev_state: Tensor | None, action: Tensor | None) -> Tensor:
        """Predictions ``(..., heads)`` (multi-head: of the latent alone) or ``(..., 1)``; logits for
        Bernoulli rewards."""
        if self.cfg.multihead_for_reward:
            return self.out(self.body(latent))
        parts = [latent, self.state_embed(next_state)]
        if self.action_embed is not None:
            parts.append(self.action_embed(action))
        if self.cfg.input_prev_state:
            parts.append(self.state_embed(prev_state))
        return self.out(self.body(torch.cat(parts, dim=-1)))


class StateDecoder(nn.Module):
    """``p(s' | m, s, a)``: the next state (a mean, or a mean and log-variance for ``gaussian``)."""

    def __init__(self, cfg: VariBADConfig, state_dim: int, action_features: int) -> None:
        super().__init__()
        self.state_embed = Embedding(state_dim, cfg.state_embedding_size, nn.ReLU())
        self.action_embed = Embedding(action_features, cfg.action_embedding_size, nn.ReLU())
        inputs = cfg.latent_dim + cfg.state_embedding_size + cfg.action_embedding_size
        self.body, width = relu_layers(inputs, cfg.state_decoder_layers)
        self.out = nn.Linear(width, state_dim * (2 if cfg.state_pred_type == "gaussian" else 1))

    def forward(self, latent: Tensor, prev_state: Tensor, action: Tensor) -> Tensor:
        return self.out(self.body(torch.cat([latent, self.state_embed(prev_state), self.action_embed(action)], dim=-1)))


class TaskDecoder(nn.Module):
    """The task from the latent: its parameters, or logits over an enumerable family's tasks."""

    def __init__(self, cfg: VariBADConfig, outputs: int) -> None:
        super().__init__()
        self.body, width = relu_layers(cfg.latent_dim, cfg.task_decoder_layers)
        self.out = nn.Linear(width, outputs)

    def forward(self, latent: Tensor) -> Tensor:
        return self.out(self.body(latent))


# ----- adaptation interface --------------------------------------------------------------------------
@dataclass
class VariBADState:
    """The belief of ``n`` tasks: the encoder's GRU hidden state and the posterior it gives."""

    hidden: Tensor
    mean: Tensor
    logvar: Tensor

    @property
    def latent(self) -> Tensor:
        """What the policy reads: ``[mean, logvar]`` ``(n, 2 * latent_dim)``."""
        return torch.cat([self.mean, self.logvar], dim=-1)


class VariBADAgent(nn.Module):
    """The encoder and the belief-conditioned policy, with the adaptation interface.

    ``begin_task`` gives the prior; ``act`` reads ``[obs, mean, logvar]``; ``observe`` folds the
    transition ``(a, r, s')`` into the belief (rows with ``valid`` False keep theirs);
    ``end_episode`` keeps the belief: the trial's episodes form one BAMDP episode (the repo's
    evaluation does not reset the encoder between episodes).
    """

    name = "varibad"

    def __init__(self, cfg: VariBADConfig, obs_space: spaces.Box, action_space: spaces.Space, add_done_info: bool,
                 device: torch.device, seed: int = 0) -> None:  # fmt: skip
        super().__init__()
        self.action_space = action_space
        self.add_done_info = add_done_info
        obs_dim = int(obs_space.shape[0])
        self.state_dim = obs_dim + int(add_done_info)
        self.action_features = action_dim(action_space)
        self.encoder = BeliefEncoder(cfg, self.state_dim, self.action_features).to(device)
        self.policy = BeliefPolicy(cfg, obs_dim, action_space, device)
        self.device = device
        self.generator = torch.Generator(device).manual_seed(seed)

    def state_features(self, obs: Tensor, done: Tensor) -> Tensor:
        """The state as the VAE sees it: the observation and, with ``add_done_info``, the flag that
        the episode ended there."""
        obs = obs.to(self.device, torch.float32)
        return torch.cat([obs, done.to(obs)[:, None]], dim=-1) if self.add_done_info else obs

    def encode(self, state: VariBADState, action: Tensor, reward: Tensor, next_obs: Tensor, done: Tensor) -> VariBADState:
        """The belief after the transitions ``(action, reward, next_obs)`` of every row."""
        a = encode_action(action.to(self.device), self.action_space)
        s = self.state_features(next_obs, done)
        r = reward.to(self.device, torch.float32)[:, None]
        return VariBADState(*self.encoder.step(state.hidden, a, s, r))

    def begin_task(self, n_tasks: int) -> VariBADState:
        """The prior belief: the encoder's initial hidden state and its Gaussian."""
        with torch.no_grad():
            return VariBADState(*self.encoder.prior(n_tasks))

    @torch.no_grad()
    def act(self, obs: Tensor, state: VariBADState, deterministic: bool = True) -> tuple[Tensor, VariBADState]:
        """Env actions of the policy on ``[obs, mean, logvar]`` (the mode when ``deterministic``)."""
        dist, _ = self.policy(obs.to(self.device), state.latent)
        action = self.policy.head.mode(dist) if deterministic else self.policy.head.sample(dist, self.generator)
        return self.policy.head.to_env_action(action), state

    @torch.no_grad()
    def observe(self, state: VariBADState, transition: Transition) -> VariBADState:
        """The belief after the step; rows with ``valid`` False keep their belief."""
        new = self.encode(state, transition.action, transition.reward, transition.next_obs, transition.done)
        keep = transition.valid.to(self.device)[:, None]
        return VariBADState(*(torch.where(keep, n, o) for n, o in zip(
            (new.hidden, new.mean, new.logvar), (state.hidden, state.mean, state.logvar))))  # fmt: skip

    def end_episode(self, state: VariBADState) -> VariBADState:
        """Nothing to do: the belief carries over to the next episode of the trial."""
        return state


# ----- data --------------------------------------------------------------------------------------------
@dataclass
class Trial:
    """One trial on each of ``N`` sub-envs, time-major ``(T, N, ...)`` with ``T = trial_episodes *
    max_episode_steps``; steps after a sub-env's trial ended have ``valid`` False.

    Policy side: ``obs`` acted on, ``latent`` read, ``action`` sampled (before clipping),
    ``value``, ``reward`` raw and ``policy_reward`` (scaled when ``norm_rew_for_policy``),
    ``trial_end`` (the trial's last step), ``timeout`` (an episode ended by its time limit).
    VAE side: ``vae`` holds ``prev_state``, ``action`` (features), ``reward``, ``next_state``
    (``(T, N, ...)``), ``length`` ``(N,)`` and, when decoding the task, ``task`` ``(N, task_dim)``.
    """

    obs: Tensor
    latent: Tensor
    action: Tensor
    value: Tensor
    reward: Tensor
    policy_reward: Tensor
    valid: Tensor
    trial_end: Tensor
    timeout: Tensor
    vae: dict[str, Tensor]


class TrialBuffer:
    """The VAE's ring buffer of the ``capacity`` most recent trials (the repo's ``RolloutStorageVAE``).

    Rows are trials: sequence fields are stored ``(capacity, T, ...)`` and zero past a trial's
    ``length``. Storage grows with the content (doubling) up to ``capacity``, so short runs and
    their checkpoints stay small.
    """

    SEQUENCES = ("prev_state", "action", "reward", "next_state")

    def __init__(self, capacity: int, device: torch.device) -> None:
        self.capacity, self.device = capacity, device
        self.data: dict[str, Tensor] = {}
        self.size = 0
        self.pos = 0

    def add(self, trial: dict[str, Tensor]) -> None:
        """Insert a batch of trials: sequence fields ``(T, N, ...)``, the others ``(N, ...)``."""
        rows = {k: v.transpose(0, 1) if k in self.SEQUENCES else v for k, v in trial.items()}
        n = rows["length"].shape[0]
        index = (self.pos + torch.arange(n, device=self.device)) % self.capacity
        self._grow(min(self.capacity, self.size + n), rows)
        for k, v in rows.items():
            self.data[k][index] = v
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.capacity, self.size + n)

    def _grow(self, needed: int, like: dict[str, Tensor]) -> None:
        allocated = next(iter(self.data.values())).shape[0] if self.data else 0
        if allocated >= needed:
            return
        rows = min(self.capacity, max(needed, 2 * allocated))
        for k, v in like.items():
            grown = torch.zeros(rows, *v.shape[1:], dtype=v.dtype, device=self.device)
            if k in self.data:
                grown[:allocated] = self.data[k]
            self.data[k] = grown

    def sample(self, batch: int, generator: torch.Generator) -> dict[str, Tensor]:
        """Up to ``batch`` distinct trials, uniformly; sequence fields time-major ``(T, B, ...)``."""
        index = torch.randperm(self.size, generator=generator, device=self.device)[:batch]
        return {k: v[index].transpose(0, 1) if k in self.SEQUENCES else v[index] for k, v in self.data.items()}

    def state_dict(self) -> dict[str, Any]:
        """The stored trials (only the filled rows), size and insert position."""
        return {"data": {k: v[: self.size].clone() for k, v in self.data.items()}, "size": self.size, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict`` output."""
        self.data = {k: v.to(self.device) for k, v in state["data"].items()}
        self.size, self.pos = state["size"], state["pos"]


def task_vectors(tasks: TaskBatch, names: list[str]) -> Tensor:
    """The task parameters of ``n`` tasks flattened into ``(n, task_dim)`` floats, in ``names`` order."""
    return torch.cat([tasks[k].reshape(tasks[k].shape[0], -1).float() for k in names], dim=-1)


def gaussian_kl(mean: Tensor, logvar: Tensor, mean0: Tensor, logvar0: Tensor) -> Tensor:
    """``KL(N(mean, e^logvar) || N(mean0, e^logvar0))`` of diagonal Gaussians, summed over the last dim."""
    return 0.5 * (logvar0 - logvar - 1.0 + (logvar - logvar0).exp() + (mean - mean0).square() / logvar0.exp()).sum(-1)


def reduce_terms(loss: Tensor, mask: Tensor, average: bool) -> Tensor:
    """Sum (or mean) of ``loss`` over dim 0 where ``mask``; the mean of an all-masked slice is 0."""
    total = (loss * mask).sum(0)
    return total / mask.sum(0).clamp(min=1) if average else total


# ----- training --------------------------------------------------------------------------------------
class VariBADLearner:
    """VariBAD training: whole trials on fresh tasks, then PPO on the policy and VAE updates.

    ``env`` is a batched env with same-step autoreset; ``seed`` seeds every random stream (the
    agent's from ``seed``, the learner's from ``seed + 1``); ``total_steps``, the length of
    training in env steps, sets the schedule of ``policy_anneal_lr``.
    """

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
        self.return_rms = RunningMeanStd(device=device)
        self.buffer = TrialBuffer(cfg.vae_buffer_size, device)
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

    # ----- data collection -------------------------------------------------------------------------
    def _draw(self, high: int) -> int:
        return int(torch.randint(0, high, (1,), generator=self.generator, device=self.device))

    @torch.no_grad()
    def collect(self) -> Trial:
        """One trial on every sub-env, all stepped together, from the prior belief on new tasks."""
        env, agent, policy, K = self.env, self.agent, self.agent.policy, self.trial_episodes
        self.env.set_tasks(self.training_tasks.draw())
        obs, _ = env.reset(seed=self._draw(2**31 - 1))
        n = env.num_envs
        state = agent.begin_task(n)
        in_trial = torch.ones(n, dtype=torch.bool, device=self.device)
        episodes = torch.zeros(n, dtype=torch.int64, device=self.device)
        discounted = torch.zeros(n, dtype=torch.float64, device=self.device)  # VecNormalize's running return
        steps: list[dict[str, Tensor]] = []
        for _ in range(self.trial_steps):
            obs = obs.to(self.device)
            dist, value = policy(obs, state.latent)
            action = policy.head.sample(dist, self.generator)
            env_action = policy.head.to_env_action(action)
            next_obs, reward, terminated, truncated, info = env.step(env_action)
            reward, terminated, truncated = (x.to(self.device) for x in (reward.float(), terminated, truncated))
            done = terminated | truncated
            final_obs = torch.where(done[:, None], info["final_obs"].to(self.device), next_obs.to(self.device))
            episodes += (done & in_trial).long()
            trial_end = in_trial & (episodes == K)
            steps.append({
                "obs": obs, "latent": state.latent, "action": action, "value": value, "reward": reward * in_trial,
                "policy_reward": self._policy_reward(reward, discounted, trial_end, in_trial),
                "valid": in_trial, "trial_end": trial_end, "timeout": truncated & in_trial,
                "prev_state": agent.state_features(obs, torch.zeros_like(done)),
                "action_features": encode_action(env_action, agent.action_space), "next_state": agent.state_features(final_obs, done),
            })  # fmt: skip
            state = agent.observe(state, Transition(obs, env_action, reward, final_obs, terminated, truncated, in_trial))
            in_trial = in_trial & ~trial_end
            obs = next_obs
        self.env_steps += n * self.trial_steps
        t = {k: torch.stack([s[k] for s in steps]) for k in steps[0]}
        valid = t["valid"]
        vae = {
            "prev_state": t["prev_state"] * valid[..., None],
            "action": t["action_features"] * valid[..., None],
            "reward": t["reward"],
            "next_state": t["next_state"] * valid[..., None],
            "length": valid.sum(0),
        }
        if self.cfg.decode_task:
            vae["task"] = task_vectors(env.get_tasks(), self.task_names).to(self.device)
        return Trial(t["obs"], t["latent"], t["action"], t["value"], t["reward"], t["policy_reward"], valid,
                     t["trial_end"], t["timeout"], vae)  # fmt: skip

    def _policy_reward(self, reward: Tensor, discounted: Tensor, trial_end: Tensor, in_trial: Tensor) -> Tensor:
        """The reward the policy is trained on. With ``norm_rew_for_policy``, as the repo's
        ``VecNormalize``: the running discounted return (reset at the trial's end) updates the
        return statistics every step, and the reward is divided by their std and clipped to
        +-10. ``discounted`` ``(n,)`` is updated in place."""
        if not self.cfg.norm_rew_for_policy:
            return reward * in_trial
        discounted.mul_(self.cfg.ppo.gamma).add_(reward)
        discounted.masked_fill_(trial_end, 0.0)
        if bool(in_trial.any()):
            self.return_rms.update(discounted[in_trial])
        scaled = (reward / self.return_rms.std()).clamp(-REWARD_CLIP, REWARD_CLIP).float()
        return scaled * in_trial

    # ----- VAE -------------------------------------------------------------------------------------
    def vae_loss(self) -> tuple[Tensor, dict[str, float]]:
        """The negative ELBO on a batch of buffered trials (the repo's ``compute_vae_loss``).

        Posteriors ``q_t`` after ``t = 0..len`` transitions (``q_0`` the prior) are the ELBO terms;
        each decodes the trial's timesteps (all, or ``vae_subsample_decodes`` random ones; only
        those before ``t`` with ``decode_only_past``). Reconstruction terms are summed (or averaged)
        over the ELBO terms and the decoded steps and averaged over trials; KL and task terms are
        summed over the ELBO terms and over trials, as the repo. Trials shorter than the longest in
        the batch are masked past their length.
        """
        cfg, g = self.cfg, self.generator
        b = self.buffer.sample(cfg.vae_batch_num_trajs, g)
        length = b["length"]
        T = int(length.max())
        seq = {k: b[k][:T] for k in TrialBuffer.SEQUENCES}
        mean, logvar = self.agent.encoder(seq["action"], seq["next_state"], seq["reward"][..., None], cfg.tbptt_stepsize)
        sample = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=g, device=self.device)
        B = length.shape[0]
        rows = torch.arange(B, device=self.device)
        if cfg.vae_subsample_elbos is not None:  # random ELBO terms t in [0, len] per trial
            t = (torch.rand(cfg.vae_subsample_elbos, B, generator=g, device=self.device) * (length + 1)).long()
        else:
            t = torch.arange(T + 1, device=self.device)[:, None].expand(T + 1, B)
        elbo_mask = t <= length
        latent = sample[t, rows]  # (E, B, latent_dim)
        terms: dict[str, Tensor] = {}
        if cfg.decode_reward or cfg.decode_state:
            terms.update(self._reconstruction_losses(latent, t, elbo_mask, seq, length))
        if cfg.decode_task:
            task_loss = self._task_loss(latent, b["task"])
            terms["task"] = reduce_terms(task_loss, elbo_mask, cfg.vae_avg_elbo_terms).sum()
        kl = self._kl(mean, logvar)[t, rows]
        terms["kl"] = reduce_terms(kl, elbo_mask, cfg.vae_avg_elbo_terms).sum()
        coeffs = {"reward": cfg.rew_loss_coeff, "state": cfg.state_loss_coeff, "task": cfg.task_loss_coeff, "kl": cfg.kl_weight}
        loss = sum(coeffs[k] * v for k, v in terms.items())
        names = {"reward": "reward_reconstr_err", "state": "state_reconstr_err", "task": "task_reconstr_err", "kl": "kl"}
        metrics = {f"vae_losses/{names[k]}": v.item() for k, v in terms.items()}
        metrics["vae_losses/sum"] = loss.item()
        return loss, metrics

    def _kl(self, mean: Tensor, logvar: Tensor) -> Tensor:
        """``(T + 1, B)``: KL of each posterior to the previous one (the first to N(0, I)), or of each
        to N(0, I) with ``kl_to_gauss_prior``."""
        if self.cfg.kl_to_gauss_prior:
            return gaussian_kl(mean, logvar, torch.zeros_like(mean), torch.zeros_like(logvar))
        prev_mean = torch.cat([torch.zeros_like(mean[:1]), mean[:-1]])
        prev_logvar = torch.cat([torch.zeros_like(logvar[:1]), logvar[:-1]])
        return gaussian_kl(mean, logvar, prev_mean, prev_logvar)

    def _reconstruction_losses(self, latent: Tensor, t: Tensor, elbo_mask: Tensor, seq: dict[str, Tensor],
                               length: Tensor) -> dict[str, Tensor]:  # fmt: skip
        """Reward and state reconstruction terms of every ELBO term ``(E, B)`` on its decoded steps."""
        cfg = self.cfg
        E, B = t.shape
        horizon = t if cfg.decode_only_past else length.expand(E, B)  # decode steps j < horizon
        if cfg.vae_subsample_decodes is not None:
            u = torch.rand(E, cfg.vae_subsample_decodes, B, generator=self.generator, device=self.device)
            j = (u * horizon[:, None]).long()
            decode_mask = (horizon > 0)[:, None].expand_as(j)
        else:
            T = seq["reward"].shape[0]
            j = torch.arange(T, device=self.device)[None, :, None].expand(E, T, B)
            decode_mask = j < horizon[:, None]
        decode_mask = decode_mask & elbo_mask[:, None]
        seq = dict(seq)
        if self.cells is not None:
            seq["cell"] = self.cells(seq["next_state"][..., : self.obs_dim])
        if cfg.multihead_for_reward and not cfg.decode_state:  # the heads read the cell, not the states
            seq = {k: seq[k] for k in ("reward", "cell")}
        if cfg.vae_subsample_decodes is None:  # every ELBO term decodes the same steps: views, no copies
            data = {k: v[None].expand(E, *v.shape) for k, v in seq.items()}
        else:
            rows = torch.arange(B, device=self.device).expand_as(j)
            data = {k: v[j, rows] for k, v in seq.items()}  # (E, D, B, ...)
        losses = {}
        if cfg.decode_reward:
            losses["reward"] = self._reward_loss(latent, data)
        if cfg.decode_state:
            losses["state"] = self._state_loss(latent[:, None].expand(*j.shape, latent.shape[-1]), data)
        return {k: self._reduce_decodes(v, decode_mask) for k, v in losses.items()}

    def _reduce_decodes(self, loss: Tensor, mask: Tensor) -> Tensor:
        """``(E, D, B)`` -> scalar: over ELBO terms, then decoded steps (sum or mean each), mean over trials."""
        cfg = self.cfg
        per_step = reduce_terms(loss, mask, cfg.vae_avg_elbo_terms)
        per_trial = reduce_terms(per_step, mask.any(0), cfg.vae_avg_reconstruction_terms)
        return per_trial.mean()

    def _reward_loss(self, latent: Tensor, data: dict[str, Tensor]) -> Tensor:
        """``(E, D, B)`` reward reconstruction errors of latents ``(E, B, latent_dim)`` on decoded steps."""
        cfg = self.cfg
        reward = data["reward"]
        if cfg.multihead_for_reward:
            # The heads depend on the latent alone: evaluate them once per ELBO term, pick per step.
            heads = self.decoders["reward"](latent, None, None, None)
            if cfg.rew_pred_type == "categorical":
                heads = heads.softmax(-1)
            E, B = latent.shape[:2]
            pred = heads[torch.arange(E, device=self.device)[:, None, None], torch.arange(B, device=self.device), data["cell"]]
            if cfg.rew_pred_type == "categorical":
                return F.binary_cross_entropy(pred, (reward == 1).float(), reduction="none")
        else:
            z = latent[:, None].expand(*reward.shape[:2], *latent.shape[1:])
            pred = self.decoders["reward"](z, data["next_state"], data["prev_state"], data["action"]).squeeze(-1)
        if cfg.rew_pred_type == "bernoulli":  # p(r = 1 | ...), as the repo's sigmoid + BCE
            return F.binary_cross_entropy_with_logits(pred, (reward == 1).float(), reduction="none")
        return (pred - reward).square()

    def _state_loss(self, z: Tensor, data: dict[str, Tensor]) -> Tensor:
        pred = self.decoders["state"](z, data["prev_state"], data["action"])
        target = data["next_state"]
        if self.cfg.state_pred_type == "gaussian":
            mean, logvar = pred.chunk(2, dim=-1)
            return -torch.distributions.Normal(mean, (0.5 * logvar).exp()).log_prob(target).mean(-1)
        return (pred - target).square().mean(-1)

    def _task_loss(self, latent: Tensor, task: Tensor) -> Tensor:
        """``(E, B)``: cross-entropy over the enumerated tasks, or squared error of the parameters."""
        pred = self.decoders["task"](latent)
        if self.task_table is None:
            return (pred - task).square().mean(-1)
        ids = (task[:, None, :] - self.task_table[None]).abs().sum(-1).argmin(-1)
        return F.cross_entropy(pred.flatten(0, 1), ids.expand(pred.shape[0], -1).flatten(), reduction="none").view(pred.shape[:2])

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

    def update_vae(self) -> dict[str, float]:
        """``num_vae_updates`` steps on the ELBO; the last step's losses."""
        metrics: dict[str, float] = {}
        for _ in range(self.cfg.num_vae_updates):
            loss, metrics = self.vae_loss()
            self.vae_step(loss)
        return metrics

    # ----- policy ----------------------------------------------------------------------------------
    def encoder_latents(self, trials: list[Trial]) -> Tensor:
        """The policy's latents of the collected steps recomputed with gradients ``(T, N, 2 latent)``
        (for ``rlloss_through_encoder``)."""
        latents = []
        for trial in trials:
            v = trial.vae
            mean, logvar = self.agent.encoder(v["action"], v["next_state"], v["reward"][..., None], self.cfg.tbptt_stepsize)
            latents.append(torch.cat([mean[:-1], logvar[:-1]], dim=-1))
        return torch.cat(latents)

    def update_policy(self, trials: list[Trial]) -> dict[str, float]:
        """PPO on the valid steps of the trials (the repo's ``PPO.update``): GAE over each trial
        (the trial is the BAMDP episode), input statistics updated, old log-probabilities taken
        under them, advantages normalised over the batch, ``epochs`` passes of minibatches."""
        cfg, ppo, policy = self.cfg, self.cfg.ppo, self.agent.policy
        t = {k: torch.cat([getattr(tr, k) for tr in trials]) for k in
             ("obs", "latent", "action", "value", "policy_reward", "valid", "trial_end", "timeout")}  # fmt: skip
        timeouts = t["timeout"] if cfg.use_proper_time_limits else None
        last_value = torch.zeros_like(t["value"][0])  # every trial ends inside the rollout
        advantages, returns = gae(t["policy_reward"], t["value"], t["trial_end"], last_value, ppo.gamma, ppo.gae_lambda, timeouts)
        valid = t["valid"]
        obs, latent, action, old_value = t["obs"][valid], t["latent"][valid], t["action"][valid], t["value"][valid]
        advantages, returns = advantages[valid], returns[valid]
        if ppo.normalize_advantages:
            advantages = normalize(advantages, eps=1e-5)
        if cfg.policy_anneal_lr:
            self._anneal()
        policy.update_normalisation(obs, latent)
        with torch.no_grad():
            old_log_prob = policy(obs, latent)[0].log_prob(action)
        for _ in range(ppo.epochs):
            for idx in minibatch_indices(len(obs), ppo.num_minibatches, self.generator, self.device):
                mb_latent = self.encoder_latents(trials)[valid][idx] if cfg.rlloss_through_encoder else latent[idx]
                dist, value = policy(obs[idx], mb_latent)
                losses = ppo_losses(ppo, dist.log_prob(action[idx]), old_log_prob[idx], advantages[idx],
                                    dist.entropy(), value, old_value[idx], returns[idx])  # fmt: skip
                if cfg.rlloss_through_encoder:
                    vae_loss, vae_metrics = self.vae_loss()
                    self._joint_step(losses.total(ppo) + cfg.vae_loss_coeff * vae_loss)
                else:
                    clip_grad_and_step(self.policy_optimizer, losses.total(ppo), ppo.max_grad_norm)
        self.policy_updates += 1
        metrics = losses.metrics()
        metrics["charts/policy_lr"] = self.policy_optimizer.param_groups[0]["lr"]
        if cfg.rlloss_through_encoder:
            metrics.update(vae_metrics)
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

    def _joint_step(self, loss: Tensor) -> None:
        """Policy and VAE step on one loss (``rlloss_through_encoder``): policy gradients clipped to
        ``ppo.max_grad_norm``, the encoder's to ``encoder_max_grad_norm`` (decoders unclipped, as the repo)."""
        cfg = self.cfg
        self.policy_optimizer.zero_grad()
        self.vae_optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.agent.policy.parameters(), cfg.ppo.max_grad_norm)
        if cfg.encoder_max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.agent.encoder.parameters(), cfg.encoder_max_grad_norm)
        self.policy_optimizer.step()
        self.vae_optimizer.step()

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
        self.episode_returns.append(float(trial_return.mean()) / self.trial_episodes)
        metrics["charts/trial_return"] = float(trial_return.mean())
        latent = trials[-1].latent[trials[-1].valid]
        metrics["encoder/latent_mean"] = float(latent[:, : cfg.latent_dim].mean())
        metrics["encoder/latent_logvar"] = float(latent[:, cfg.latent_dim :].mean())
        return metrics

    # ----- checkpointing ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Networks, normalisation statistics, optimizers, the VAE buffer, RNG streams and counters.
        Nothing of the envs: every iteration starts fresh trials from the learner's generator."""
        policy = self.agent.policy
        return {
            "agent": self.agent.state_dict(),
            "decoders": self.decoders.state_dict(),
            "statistics": {"state": policy.state_rms.state_dict(), "latent": policy.latent_rms.state_dict(),
                           "return": self.return_rms.state_dict()},  # fmt: skip
            "optimizers": {"policy": self.policy_optimizer.state_dict(), "vae": self.vae_optimizer.state_dict()},
            "buffer": self.buffer.state_dict(),
            "generators": {"agent": self.agent.generator.get_state(), "learner": self.generator.get_state()},
            "env_steps": self.env_steps,
            "iterations": self.iterations,
            "policy_updates": self.policy_updates,
            "episode_returns": self.episode_returns[-1000:],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore everything ``state_dict`` saved."""
        policy = self.agent.policy
        self.agent.load_state_dict(state["agent"])
        self.decoders.load_state_dict(state["decoders"])
        policy.state_rms.load_state_dict(state["statistics"]["state"])
        policy.latent_rms.load_state_dict(state["statistics"]["latent"])
        self.return_rms.load_state_dict(state["statistics"]["return"])
        self.policy_optimizer.load_state_dict(state["optimizers"]["policy"])
        self.vae_optimizer.load_state_dict(state["optimizers"]["vae"])
        self.buffer.load_state_dict(state["buffer"])
        self.agent.generator.set_state(state["generators"]["agent"])
        self.generator.set_state(state["generators"]["learner"])
        self.env_steps, self.iterations = state["env_steps"], state["iterations"]
        self.policy_updates = state["policy_updates"]
        self.episode_returns = list(state["episode_returns"])


def make_varibad_trainer(cfg: RunConfig, device: torch.device) -> VariBADLearner:
    """VariBAD on ``cfg.env``: ``num_envs`` sub-envs with same-step autoreset, one task each per trial."""
    varibad: VariBADConfig = cfg.agent_config
    env = make_training_env(cfg, varibad.num_envs, device)
    return VariBADLearner(varibad, env, device, cfg.seed, cfg.train.total_steps)
