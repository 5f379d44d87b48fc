"""PEARL's networks: the context encoder (with its KL to the prior) and the
tanh-Gaussian policy."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from metarl.common.networks import MLP

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


#: Hidden ReLU layers of PEARL's networks (oyster: three of one width).
LAYERS = 3


class ContextEncoder(nn.Module):
    """Maps each context transition to a Gaussian factor; the posterior is their product."""

    def __init__(self, context_dim: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = MLP(context_dim, [hidden] * LAYERS, outputs=2 * latent_dim)

    def posterior(self, context: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and variance ``(B, latent)`` of q(z | context ``(B, T, d)``); rows where ``mask``
        ``(B, T)`` is False are ignored, and a task with no context gets the prior N(0, I)."""
        params = self.net(context)
        mu, var = params[..., : self.latent_dim], F.softplus(params[..., self.latent_dim :]).clamp(min=1e-7)
        precision = 1.0 / var
        if mask is not None:
            precision = precision * mask[..., None]
        total = precision.sum(1)
        empty = total <= 0
        post_var = 1.0 / torch.where(empty, torch.ones_like(total), total)
        post_mu = post_var * (mu * precision).sum(1)
        return torch.where(empty, 0.0, post_mu), torch.where(empty, 1.0, post_var)


def kl_to_prior(mu: Tensor, var: Tensor) -> Tensor:
    """Sum over tasks and latent dims of KL(N(mu, var) || N(0, 1)) (as oyster's compute_kl_div)."""
    return 0.5 * (var + mu.square() - 1.0 - var.log()).sum()


class TanhGaussianPolicy(nn.Module):
    """pi(a | s, z): a Gaussian squashed by tanh into [-1, 1]^d."""

    def __init__(self, obs_dim: int, latent_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = MLP(obs_dim + latent_dim, [hidden] * LAYERS, outputs=2 * action_dim)
        self.action_dim = action_dim

    def forward(self, obs: Tensor, z: Tensor, deterministic: bool = False, generator: torch.Generator | None = None):
        """Action, log-probability, pre-tanh mean and log-std."""
        mean, log_std = self.net(torch.cat([obs, z], -1)).chunk(2, -1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        if deterministic:
            return torch.tanh(mean), None, mean, log_std
        std = log_std.exp()
        noise = torch.randn(mean.shape, generator=generator, device=mean.device) if generator else torch.randn_like(mean)
        pre_tanh = mean + std * noise
        action = torch.tanh(pre_tanh)
        log_prob = (-0.5 * noise.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - torch.log1p(-action.square() + 1e-6).sum(-1)
        return action, log_prob, mean, log_std
