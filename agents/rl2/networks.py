"""RL^2's recurrent network: trial input -> GRU -> tanh MLP -> action head, and a value head."""

from __future__ import annotations

import math

import torch.nn as nn
from gymnasium import spaces
from metarl.agents.rl2.config import RL2Config
from torch import Tensor
from torch.distributions import Distribution

from metarl.common.distributions import ActionHead
from metarl.common.networks import MLP, linear
from metarl.common.trials import trial_input_dim


class RL2Network(nn.Module):
    """Trial input -> (optional embedding) -> GRU -> tanh MLP -> action head, and a value head.

    Time-major: ``forward(x (L, B, D), h (B, H))`` runs ``L`` steps from hidden state ``h``.
    Episode boundaries inside a trial do not reset the GRU, so whole trials go through
    ``nn.GRU`` in one call. ``policy=False`` or ``value=False`` leaves that head out (TRPO's
    policy and value function are two GRUs, each with its own head).
    """

    def __init__(
        self, cfg: RL2Config, obs_space: spaces.Space, action_space: spaces.Space, policy: bool = True, value: bool = True
    ) -> None:
        super().__init__()
        width = trial_input_dim(obs_space, action_space)
        self.embed: nn.Module = nn.Identity()
        if cfg.embedding_size is not None:
            self.embed = MLP(width, [cfg.embedding_size], "relu")
            width = cfg.embedding_size
        self.gru = nn.GRU(width, cfg.hidden_size)
        for name, param in self.gru.named_parameters():  # CleanRL's recurrent PPO initialisation
            nn.init.zeros_(param) if "bias" in name else nn.init.orthogonal_(param, 1.0)
        if policy:
            self.actor = MLP(cfg.hidden_size, cfg.policy_layers, "tanh", "orthogonal", math.sqrt(2))
            self.head = ActionHead(self.actor.out_features, action_space, cfg.init_log_std)
        if value:
            critic = MLP(cfg.hidden_size, cfg.policy_layers, "tanh", "orthogonal", math.sqrt(2))
            self.critic = nn.Sequential(critic, linear(critic.out_features, 1, "orthogonal", 1.0))
        self.policy, self.value = policy, value
        self.hidden_size = cfg.hidden_size

    def forward(self, x: Tensor, hidden: Tensor) -> tuple[Distribution | None, Tensor | None, Tensor]:
        """Action distribution and value ``(L, B)`` per step (None for a head left out), and the
        hidden state after the last step."""
        out, last = self.gru(self.embed(x), hidden[None].contiguous())
        dist = self.head(self.actor(out)) if self.policy else None
        return dist, self.critic(out).squeeze(-1) if self.value else None, last[0]
