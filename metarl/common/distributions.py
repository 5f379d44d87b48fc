"""Action distributions of gymnasium spaces for policy networks: ``ActionHead`` (Categorical or
diagonal Gaussian) and the one-hot / float encoding of actions as network inputs."""

from __future__ import annotations

import torch
import torch.nn as nn
from gymnasium import spaces
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, Normal

from metarl.common.networks import linear
from metarl.core.spaces import action_dim, check_action_space


def encode_action(action: Tensor, space: spaces.Space) -> Tensor:
    """Actions ``(..., )`` int or ``(..., d)`` float as float features ``(..., action_dim(space))``."""
    if isinstance(space, spaces.Discrete):
        return nn.functional.one_hot((action - int(space.start)).long(), int(space.n)).float()
    return action.float()


class ActionHead(nn.Module):
    """Maps features to the policy's distribution over one sub-env's action space.

    ``Discrete``: categorical logits. ``Box``: a diagonal Gaussian with a state-independent,
    learned log standard deviation (the PPO / MAML convention); samples are unbounded and
    ``to_env_action`` clips them to the space (the clipped action is what the env sees, the
    unclipped one is what the log-probability is of).
    """

    def __init__(self, features: int, space: spaces.Space, init_log_std: float = 0.0, gain: float = 0.01) -> None:
        super().__init__()
        check_action_space(space)
        self.space = space
        self.discrete = isinstance(space, spaces.Discrete)
        self.linear = linear(features, action_dim(space), "orthogonal", gain)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((action_dim(space),), float(init_log_std)))
            self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))

    def forward(self, features: Tensor) -> Distribution:
        """The action distribution for ``features`` ``(..., features)``."""
        return self.distribution(self.linear(features))

    def distribution(self, out: Tensor, log_std: Tensor | None = None) -> Distribution:
        """The distribution of the linear layer's output ``out`` ``(..., action_dim)``.

        ``log_std`` (Box only, broadcastable to ``out``) replaces the head's own, for policies
        evaluated with other parameters than the module's (e.g. per-task adapted parameters of
        gradient-based meta-learners, whose inner loop adapts the standard deviation too).
        """
        if self.discrete:
            return Categorical(logits=out)
        log_std = self.log_std if log_std is None else log_std
        return Independent(Normal(out, log_std.exp().expand_as(out)), 1)

    def mode(self, dist: Distribution) -> Tensor:
        """The most likely action (argmax arm, Gaussian mean)."""
        return dist.probs.argmax(-1) if self.discrete else dist.mean

    def sample(self, dist: Distribution, generator: torch.Generator | None = None) -> Tensor:
        """A draw from ``dist`` (as ``dist.sample()``) taken from ``generator``, so that a
        checkpointed generator makes the actions reproducible (``Distribution.sample`` only uses
        torch's global generator). Categorical: inverse CDF of one uniform per row."""
        if self.discrete:
            probs = dist.probs
            u = torch.rand(probs.shape[:-1] + (1,), generator=generator, device=probs.device, dtype=probs.dtype)
            return (probs.cumsum(-1) < u).sum(-1).clamp(max=probs.shape[-1] - 1)
        base = dist.base_dist
        noise = torch.randn(base.loc.shape, generator=generator, device=base.loc.device, dtype=base.loc.dtype)
        return base.loc + base.scale * noise

    def to_env_action(self, action: Tensor) -> Tensor:
        """What the env is given: the arm index offset by ``start``, or the Gaussian sample clipped."""
        if self.discrete:
            return action + int(self.space.start)
        return torch.maximum(torch.minimum(action, self.high), self.low)
