"""CAVIA (Zintgraf et al., 2019): gradient-based adaptation of a low-dimensional context only.

The policy takes a context vector besides the observation (``context_mode: concat`` appends it
to the input, as CAVIA's RL networks; ``film`` modulates the first hidden layer, CAVIA's FiLM
option). Each task's context starts at zero and the inner loop adapts only the context by
``num_inner_steps`` policy-gradient steps of size ``inner_lr`` (large: the context is small and
starts at zero, CAVIA uses 1 to 10); the outer loop meta-trains the shared network through
those steps with the same optimisers as MAML (``outer: trpo | ppo | promp``, one
implementation: ``metarl.agents.gradient.outer``).

``latent_encoder: true`` — a LEO-style initialisation (Rusu et al., 2019): instead of starting
the inner steps from zero, an encoder proposes each task's context from the task's first batch
of episodes (the ``inner_episodes`` episodes played with the zero context): every valid
transition ``(s, a, r, s')`` goes through an MLP, the features are averaged over the task's
transitions and mapped linearly to a context. The inner steps then start from that proposal,
on the same episodes; as those were sampled with the zero context, the inner objective must be
the importance-weighted one (``inner_loss: lvc``, checked). The encoder is trained end to end
by the outer loop, through the adapted context. Unlike LEO, the latent is deterministic (no
KL or entropy term) and is the policy's context input rather than the code of a weight decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn as nn
from metarl.agents.gradient.config import GradientMetaConfig
from metarl.agents.gradient.learner import GradientMetaLearner, make_env
from metarl.agents.gradient.networks import FastParams, MetaPolicy, expand_params, make_policy
from metarl.agents.gradient.rollout import InnerRollout
from torch import Tensor

from metarl.common.checks import check
from metarl.common.config import RunConfig
from metarl.common.distributions import encode_action
from metarl.common.networks import MLP
from metarl.core.spaces import action_dim


@dataclass
class CAVIAConfig(GradientMetaConfig):
    """CAVIA's hyperparameters; defaults are the public CAVIA code's 2D-navigation arguments
    (lmzintgraf/cavia ``rl/arguments.py``: 2 context parameters, two ReLU layers of 100,
    gamma 0.95, fast-lr 1.0, meta-batch 20, 20 rollouts per task, MAML-TRPO's trust region)."""

    hidden_sizes: tuple[int, ...] = (100, 100)
    activation: Literal["tanh", "relu"] = "relu"
    inner_lr: float = 1.0
    gamma: float = 0.95
    context_dim: int = 2
    context_mode: Literal["concat", "film"] = "concat"
    latent_encoder: bool = False
    encoder_hidden: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        check(self.context_dim > 0, "context_dim", self.context_dim, "> 0")
        check(self.encoder_hidden > 0, "encoder_hidden", self.encoder_hidden, "> 0")
        check(not self.latent_encoder or self.inner_objective == "lvc", "inner_loss", self.inner_loss,
              "'lvc' (or null with outer promp) when latent_encoder is true: the inner step starts from the "
              "encoder's context, off the zero-context policy that sampled the episodes")  # fmt: skip


class TransitionEncoder(nn.Module):
    """Context proposal from a task's episodes: mean over its valid transitions of an MLP of
    ``(s, a, r, s')``, mapped linearly to the context (zero-initialised: the first proposals are
    CAVIA's zero context)."""

    def __init__(self, obs_dim: int, action_space, hidden: int, context_dim: int) -> None:
        super().__init__()
        self.action_space = action_space
        self.features = MLP(2 * obs_dim + action_dim(action_space) + 1, [hidden, hidden], "relu")
        self.out = nn.Linear(hidden, context_dim)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, rollout: InnerRollout) -> Tensor:
        """Contexts ``(n, context_dim)`` for the rollout's ``n`` tasks."""
        x = torch.cat([rollout.obs.flatten(3), encode_action(rollout.env_actions, self.action_space),
                       rollout.rewards[..., None], rollout.next_obs.flatten(3)], dim=-1)  # fmt: skip
        m = rollout.mask.float()[..., None]
        pooled = (self.features(x) * m).sum((0, 2)) / m.sum((0, 2)).clamp(min=1.0)
        return self.out(pooled)


class ContextAdaptation(nn.Module):
    """Fast parameters = a context vector per task (zeros, or the encoder's proposal before the
    first step); the network is shared by all tasks."""

    def __init__(self, policy: MetaPolicy, inner_lr: float, encoder: TransitionEncoder | None) -> None:
        super().__init__()
        self.policy, self.inner_lr, self.encoder = policy, inner_lr, encoder

    def initial(self, n: int) -> FastParams:
        """Zero contexts."""
        weight = self.policy.layers[0].weight
        return {"context": torch.zeros(n, self.policy.context_dim, dtype=weight.dtype, device=weight.device)}

    def policy_inputs(self, fast: FastParams) -> tuple[FastParams, Tensor]:
        """The shared weights viewed once per task, and each task's context."""
        context = fast["context"]
        return expand_params(dict(self.policy.named_parameters()), context.shape[0]), context

    def propose(self, fast: FastParams, rollout: InnerRollout) -> FastParams:
        """The encoder's context from the first episodes, or the zero context unchanged."""
        return fast if self.encoder is None else {"context": self.encoder(rollout)}

    def step(self, fast: FastParams, grads: FastParams) -> FastParams:
        """``c_i - inner_lr * g_i``."""
        return {"context": fast["context"] - self.inner_lr * grads["context"]}


def make_cavia_trainer(cfg: RunConfig, device: torch.device) -> GradientMetaLearner:
    """CAVIA on ``cfg.env``: ``meta_batch * inner_episodes`` sub-envs collected together."""
    cavia: CAVIAConfig = cfg.agent_config
    env = make_env(cfg, cavia, device)
    policy = make_policy(env, cavia, cavia.context_dim, cavia.context_mode)
    encoder = None
    if cavia.latent_encoder:
        obs_dim = int(np.prod(env.single_observation_space.shape))
        encoder = TransitionEncoder(obs_dim, env.single_action_space, cavia.encoder_hidden, cavia.context_dim)
    return GradientMetaLearner(cavia, env, ContextAdaptation(policy, cavia.inner_lr, encoder), device, cfg.seed, "cavia")
