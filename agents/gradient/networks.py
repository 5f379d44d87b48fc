"""The policy of the gradient-based meta-learners and its evaluation with per-task parameters.

``MetaPolicy`` is one MLP module; ``task_outputs`` evaluates it for all tasks of a meta-batch at
once, each with its own *fast parameters* (``FastParams``: name -> tensor with a leading task
dim), by ``torch.func.vmap`` over ``torch.func.functional_call``.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from metarl.agents.gradient.config import GradientMetaConfig
from torch import Tensor
from torch.distributions import Distribution
from torch.func import functional_call, vmap

from metarl.common.distributions import ActionHead
from metarl.common.networks import ACTIVATIONS

#: Per-task fast parameters: name -> tensor with a leading task dim.
FastParams = dict[str, Tensor]



class MetaPolicy(nn.Module):
    """An MLP policy ``pi(a | s[, context])`` whose ``forward`` returns tensors, so that it can be
    evaluated with per-task parameters under ``vmap`` (``task_outputs``).

    ``forward`` returns the action head's linear output (Gaussian mean or logits); the
    distribution is built with ``distribution``. With ``context_dim > 0`` it takes a context
    vector per call: ``context_mode="concat"`` appends it to the observation (CAVIA's RL
    networks), ``"film"`` modulates the first hidden layer, ``h = act((1 + gamma) * (W s + b) +
    beta)`` with ``[gamma, beta]`` a linear function of the context (CAVIA's FiLM option, zero
    at a zero context). Hidden layers are Xavier-uniform with zero biases (as pytorch-maml-rl).
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.spaces.Space,
        hidden_sizes: tuple[int, ...] = (64, 64),
        activation: str = "tanh",
        init_log_std: float = 0.0,
        context_dim: int = 0,
        context_mode: Literal["concat", "film"] = "concat",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is unknown; allowed: {list(ACTIVATIONS)}")
        if context_mode not in ("concat", "film"):
            raise ValueError(f"context_mode={context_mode!r} is unknown; allowed: 'concat', 'film'")
        self.context_dim, self.context_mode = context_dim, context_mode
        widths = [obs_dim + (context_dim if context_mode == "concat" else 0), *hidden_sizes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        for layer in self.layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.act = ACTIVATIONS[activation]()
        if context_dim and context_mode == "film":
            self.film = nn.Linear(context_dim, 2 * hidden_sizes[0])
        self.head = ActionHead(hidden_sizes[-1], action_space, init_log_std)

    def forward(self, obs: Tensor, context: Tensor | None = None) -> Tensor:
        """Head outputs ``(..., out)`` for observations ``(..., obs_dim)`` and a context ``(context_dim,)``
        (one task's: under ``vmap`` each task sees its own)."""
        x = obs
        if self.context_dim and self.context_mode == "concat":
            x = torch.cat([x, context.expand(*x.shape[:-1], self.context_dim)], dim=-1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == 0 and self.context_dim and self.context_mode == "film":
                gamma, beta = self.film(context).chunk(2, dim=-1)
                x = (1.0 + gamma) * x + beta
            x = self.act(x)
        return self.head.linear(x)


def make_policy(env: Any, cfg: GradientMetaConfig, context_dim: int = 0, context_mode: str = "concat") -> MetaPolicy:
    """The policy for ``env``'s spaces, shaped by ``cfg``."""
    obs_dim = int(np.prod(env.single_observation_space.shape))
    return MetaPolicy(obs_dim, env.single_action_space, tuple(cfg.hidden_sizes), cfg.activation, cfg.init_log_std,
                      context_dim, context_mode)  # fmt: skip


def expand_params(params: dict[str, Tensor], n: int) -> FastParams:
    """``params`` as ``n`` per-task views (no copy; gradients flow back to the originals)."""
    return {name: p.expand(n, *p.shape) for name, p in params.items()}


def task_outputs(policy: MetaPolicy, params: FastParams, obs: Tensor, context: Tensor | None = None) -> Tensor:
    """``policy``'s outputs ``(n, B, out)`` for task ``i``'s observations ``obs[i]`` ``(B, obs_dim)``
    under task ``i``'s parameters ``params[name][i]`` (and context ``context[i]``), for all tasks at
    once with ``vmap`` over ``functional_call``."""
    if context is None:
        return vmap(lambda p, o: functional_call(policy, p, (o,)))(params, obs)
    return vmap(lambda p, o, c: functional_call(policy, p, (o, c)))(params, obs, context)


def task_distribution(policy: MetaPolicy, params: FastParams, out: Tensor) -> Distribution:
    """The action distribution of outputs ``out`` ``(n, B, out)``, with each task's own log std."""
    log_std = params.get("head.log_std")
    return policy.head.distribution(out, None if log_std is None else log_std[:, None, :])
