"""VariBAD's networks: the recurrent belief encoder, the belief-conditioned policy and the decoders."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
from gymnasium import spaces
from metarl.agents.varibad.config import VariBADConfig
from torch import Tensor
from torch.distributions import Distribution

from metarl.common.distributions import ActionHead
from metarl.common.networks import ACTIVATIONS, MLP, activation_gain, linear, normc_
from metarl.common.normalization import RunningMeanStd

#: At most this many cells for ``multihead_for_reward`` (one output head per cell).
MAX_REWARD_HEADS = 4096



class Embedding(nn.Module):
    """``Linear + activation`` to ``size`` features; ``size`` 0 drops the input (the repo's
    ``FeatureExtractor``)."""

    def __init__(self, inputs: int, size: int, activation: nn.Module) -> None:
        super().__init__()
        self.size = size
        self.linear = linear(inputs, size) if size > 0 else None
        self.activation = activation

    def forward(self, x: Tensor) -> Tensor:
        if self.linear is None:
            return x.new_zeros(*x.shape[:-1], 0)
        return self.activation(self.linear(x))


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
        self.before_gru = MLP(embedded, cfg.encoder_layers_before_gru)
        width = self.before_gru.out_features
        self.gru = nn.GRU(width, self.hidden_size)
        for name, p in self.gru.named_parameters():
            nn.init.zeros_(p) if "bias" in name else nn.init.orthogonal_(p)
        self.after_gru = MLP(self.hidden_size, cfg.encoder_layers_after_gru)
        width = self.after_gru.out_features
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
        gain = activation_gain(cfg.policy_activation)
        return MLP(inputs, cfg.policy_layers, cfg.policy_activation, cfg.policy_initialisation, gain)

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
            self.body = MLP(cfg.latent_dim, cfg.reward_decoder_layers)
            width = self.body.out_features
            self.out = nn.Linear(width, heads)
            return
        self.state_embed = Embedding(state_dim, cfg.state_embedding_size, nn.ReLU())
        self.action_embed = Embedding(action_features, cfg.action_embedding_size, nn.ReLU()) if cfg.input_action else None
        inputs = cfg.latent_dim + cfg.state_embedding_size * (1 + cfg.input_prev_state)
        inputs += cfg.action_embedding_size if cfg.input_action else 0
        self.body = MLP(inputs, cfg.reward_decoder_layers)
        width = self.body.out_features
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
        self.body = MLP(inputs, cfg.state_decoder_layers)
        width = self.body.out_features
        self.out = nn.Linear(width, state_dim * (2 if cfg.state_pred_type == "gaussian" else 1))

    def forward(self, latent: Tensor, prev_state: Tensor, action: Tensor) -> Tensor:
        return self.out(self.body(torch.cat([latent, self.state_embed(prev_state), self.action_embed(action)], dim=-1)))


class TaskDecoder(nn.Module):
    """The task from the latent: its parameters, or logits over an enumerable family's tasks."""

    def __init__(self, cfg: VariBADConfig, outputs: int) -> None:
        super().__init__()
        self.body = MLP(cfg.latent_dim, cfg.task_decoder_layers)
        width = self.body.out_features
        self.out = nn.Linear(width, outputs)

    def forward(self, latent: Tensor) -> Tensor:
        return self.out(self.body(latent))
