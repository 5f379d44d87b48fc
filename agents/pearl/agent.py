"""PEARL's agent: its networks and the adaptation interface (``begin_task``/``act``/``observe``/
``end_episode``) with its meta-test state."""

from __future__ import annotations

from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from metarl.agents.pearl.config import PEARLConfig
from metarl.agents.pearl.networks import LAYERS, ContextEncoder, TanhGaussianPolicy
from torch import Tensor

from metarl.common.ensemble import EnsembleMLP
from metarl.common.networks import MLP
from metarl.common.protocol import Transition


@dataclass
class PEARLState:
    """Meta-test state of a batch of tasks: the context gathered so far and the current z."""

    z: Tensor
    context: list[Tensor] = field(default_factory=list)
    mask: list[Tensor] = field(default_factory=list)
    episodes: int = 0


class PEARLAgent(nn.Module):
    """PEARL's networks and its adaptation interface (``begin_task``/``act``/``observe``/``end_episode``)."""

    name = "pearl"

    def __init__(self, cfg: PEARLConfig, obs_dim: int, action_space: gym.spaces.Box, device: torch.device) -> None:
        super().__init__()
        self.cfg = cfg
        action_dim = int(np.prod(action_space.shape))
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.context_dim = obs_dim + action_dim + 1 + (obs_dim if cfg.use_next_obs_in_context else 0)
        self.encoder = ContextEncoder(self.context_dim, cfg.encoder_hidden_size, cfg.latent_dim)
        self.policy = TanhGaussianPolicy(obs_dim, cfg.latent_dim, action_dim, cfg.hidden_size)
        q_in, v_in = obs_dim + action_dim + cfg.latent_dim, obs_dim + cfg.latent_dim
        # The twin Q-functions as one batched ensemble, initialised as two separate MLPs would be.
        hidden = [cfg.hidden_size] * LAYERS
        self.qf = EnsembleMLP.from_mlps([MLP(q_in, hidden, outputs=1), MLP(q_in, hidden, outputs=1)])
        self.vf, self.target_vf = MLP(v_in, hidden, outputs=1), MLP(v_in, hidden, outputs=1)
        self.target_vf.load_state_dict(self.vf.state_dict())
        self.register_buffer("action_low", torch.as_tensor(action_space.low, dtype=torch.float32))
        self.register_buffer("action_high", torch.as_tensor(action_space.high, dtype=torch.float32))
        self.to(device)
        self.device = device
        self.generator = torch.Generator(device).manual_seed(0)

    # ----- helpers shared by training and meta-test ------------------------------------------------
    def to_env_action(self, action: Tensor) -> Tensor:
        """[-1, 1] policy actions to the env's bounds."""
        return self.action_low + (action + 1.0) * 0.5 * (self.action_high - self.action_low)

    def to_policy_action(self, action: Tensor) -> Tensor:
        """Env actions back to [-1, 1]."""
        return 2.0 * (action - self.action_low) / (self.action_high - self.action_low) - 1.0

    def context_rows(self, obs: Tensor, action: Tensor, reward: Tensor, next_obs: Tensor) -> Tensor:
        """Context entries ``(..., context_dim)`` from transitions (actions in [-1, 1])."""
        parts = [obs, action, reward[..., None]] + ([next_obs] if self.cfg.use_next_obs_in_context else [])
        return torch.cat(parts, -1)

    def sample_z(self, mu: Tensor, var: Tensor) -> Tensor:
        """One z per task from N(mu, var), from the agent's generator."""
        return mu + var.sqrt() * torch.randn(mu.shape, generator=self.generator, device=mu.device)

    def prior_z(self, n: int) -> Tensor:
        """z ~ N(0, I) for ``n`` tasks."""
        zeros = torch.zeros(n, self.cfg.latent_dim, device=self.device)
        return self.sample_z(zeros, torch.ones_like(zeros))

    # ----- adaptation interface ------------------------------------------------------------------
    def begin_task(self, n_tasks: int) -> PEARLState:
        """Empty context; z from the prior for the first episode."""
        return PEARLState(z=self.prior_z(n_tasks))

    @torch.no_grad()
    def act(self, obs: Tensor, state: PEARLState, deterministic: bool = True) -> tuple[Tensor, PEARLState]:
        """Actions of the z-conditioned policy, in the env's bounds."""
        action, *_ = self.policy(obs.to(self.device, torch.float32), state.z, deterministic, self.generator)
        return self.to_env_action(action), state

    @torch.no_grad()
    def observe(self, state: PEARLState, transition: Transition) -> PEARLState:
        """Add the step's transitions to each task's context (rows with ``valid`` False are masked)."""
        f32 = {k: getattr(transition, k).to(self.device, torch.float32) for k in ("obs", "action", "reward", "next_obs")}
        rows = self.context_rows(f32["obs"], self.to_policy_action(f32["action"]), f32["reward"], f32["next_obs"])
        state.context.append(rows)
        state.mask.append(transition.valid.to(self.device))
        return state

    @torch.no_grad()
    def end_episode(self, state: PEARLState) -> PEARLState:
        """Posterior sampling: z for the next episode from q(z | all context so far), once
        ``exploration_episodes`` episodes have been played with the prior z (oyster's
        ``num_exp_traj_eval``)."""
        state.episodes += 1
        if state.episodes >= self.cfg.exploration_episodes and state.context:
            mu, var = self.encoder.posterior(torch.stack(state.context, 1), torch.stack(state.mask, 1).float())
            state.z = self.sample_z(mu, var)
        return state
