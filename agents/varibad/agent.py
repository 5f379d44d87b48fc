"""VariBAD's adaptation interface: the belief state and the agent that updates it and acts on it."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from gymnasium import spaces
from metarl.agents.varibad.config import VariBADConfig
from metarl.agents.varibad.networks import BeliefEncoder, BeliefPolicy
from torch import Tensor

from metarl.common.distributions import encode_action
from metarl.common.protocol import Transition
from metarl.core.spaces import action_dim


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
