"""The oracle's networks: task features, and the actor-critics of the concat / none and hypernetwork conditionings."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
from gymnasium import spaces
from metarl.agents.oracle.config import CONDITIONINGS, OracleConfig
from metarl.agents.oracle.hypernetwork import HyperLinear, apply_generated
from torch import Tensor
from torch.distributions import Distribution

from metarl.common.distributions import ActionHead
from metarl.common.networks import ACTIVATIONS, MLP, linear
from metarl.core.tasks import TaskBatch

#: Per-task conditioning of a network: a list of tensors with one row per task (the task features
#: for ``concat``, the generated layer parameters for ``hypernetwork``, nothing for ``none``).
Condition = list[Tensor]


# ----- task features -------------------------------------------------------------------------------
def parameter_bounds(name: str, space: spaces.Space) -> tuple[np.ndarray, np.ndarray]:
    """Flattened lower and upper bounds of one task parameter's space (integers: first and last value)."""
    if isinstance(space, spaces.Box):
        return space.low.reshape(-1).astype(np.float64), space.high.reshape(-1).astype(np.float64)
    if isinstance(space, spaces.Discrete):
        return np.array([space.start], np.float64), np.array([space.start + space.n - 1], np.float64)
    if isinstance(space, spaces.MultiDiscrete):
        return np.zeros(space.nvec.size), space.nvec.reshape(-1).astype(np.float64) - 1
    raise TypeError(f"task parameter {name!r} has the space {space!r}; allowed: Box, Discrete, MultiDiscrete")


class TaskFeatures(nn.Module):
    """A ``TaskBatch`` as one float vector per task: every parameter of ``task_space`` flattened
    (row-major) and concatenated in the task space's order.

    With ``normalize``, entries whose bounds are both finite (and distinct) are mapped affinely
    from ``[low, high]`` to ``[-1, 1]``; entries with an infinite bound are left as they are.
    """

    def __init__(self, task_space: spaces.Dict, normalize: bool = True) -> None:
        super().__init__()
        self.names = list(task_space.spaces)
        self.sizes = [int(np.prod(s.shape)) for s in task_space.spaces.values()]
        lows, highs = zip(*(parameter_bounds(n, s) for n, s in task_space.spaces.items()))
        low, high = torch.as_tensor(np.concatenate(lows)), torch.as_tensor(np.concatenate(highs))
        scaled = torch.isfinite(low) & torch.isfinite(high) & (high > low) & normalize
        # Where an entry is not scaled, low = -1 and high = 1 make the affine map the identity.
        self.register_buffer("low", torch.where(scaled, low, -1.0).float(), persistent=False)
        self.register_buffer("high", torch.where(scaled, high, 1.0).float(), persistent=False)

    @property
    def dim(self) -> int:
        """Width of the feature vector."""
        return sum(self.sizes)

    def forward(self, tasks: TaskBatch) -> Tensor:
        """Features ``(n, dim)`` (float32, on the buffers' device) of ``n`` tasks."""
        missing = [name for name in self.names if name not in tasks]
        if missing:
            raise ValueError(f"the tasks lack the parameters {missing}; got {sorted(tasks)}, the task space has {self.names}")
        n = next(iter(tasks.values())).shape[0]
        parts = []
        for name, size in zip(self.names, self.sizes):
            value = torch.as_tensor(tasks[name]).to(self.low.device, torch.float32).reshape(n, -1)
            if value.shape[1] != size:
                raise ValueError(f"task parameter {name!r} has {value.shape[1]} values per task; the task space has {size}")
            parts.append(value)
        x = torch.cat(parts, dim=1)
        return 2.0 * (x - self.low) / (self.high - self.low) - 1.0


# ----- actor-critics -------------------------------------------------------------------------------
class ActorCritic(nn.Module):
    """What the two conditionings share: the action head and the value output on top of the trunks.

    Subclasses define ``condition(features) -> Condition`` (per task, differentiable) and
    ``trunks(obs, condition) -> (actor_features, critic_features)``. Observations are ``(..., n,
    obs_dim)``: the row of sub-env ``i`` (second-to-last dimension) uses row ``i`` of every tensor
    of ``condition``, so a rollout ``(T, n, obs_dim)`` is evaluated without copying per-task
    parameters per step.
    """

    def __init__(self, hidden: int, action_space: spaces.Space, init_log_std: float) -> None:
        super().__init__()
        self.head = ActionHead(hidden, action_space, init_log_std)  # orthogonal gain 0.01 (CleanRL)
        self.value = linear(hidden, 1, "orthogonal", 1.0)

    def condition(self, features: Tensor) -> Condition:
        raise NotImplementedError

    def trunks(self, obs: Tensor, condition: Condition) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def forward(self, obs: Tensor, condition: Condition) -> tuple[Distribution, Tensor]:
        """The action distribution and the value ``(..., n)`` of observations ``(..., n, obs_dim)``."""
        actor, critic = self.trunks(obs, condition)
        return self.head(actor), self.value(critic).squeeze(-1)


class ConcatActorCritic(ActorCritic):
    """Separate actor and critic MLPs on ``[obs, task features]`` (``task_dim`` 0: on ``obs`` alone)."""

    def __init__(self, obs_dim: int, task_dim: int, action_space: spaces.Space, hidden_sizes: list[int],
                 activation: str, init_log_std: float) -> None:  # fmt: skip
        super().__init__(hidden_sizes[-1], action_space, init_log_std)
        self.task_dim = task_dim
        self.actor = MLP(obs_dim + task_dim, hidden_sizes, activation, "orthogonal", math.sqrt(2))
        self.critic = MLP(obs_dim + task_dim, hidden_sizes, activation, "orthogonal", math.sqrt(2))

    def condition(self, features: Tensor) -> Condition:
        """The features themselves (nothing when the network takes no task information)."""
        return [features] if self.task_dim else []

    def trunks(self, obs: Tensor, condition: Condition) -> tuple[Tensor, Tensor]:
        x = torch.cat([obs, *(c.expand(*obs.shape[:-1], c.shape[-1]) for c in condition)], dim=-1)
        return self.actor(x), self.critic(x)


class HyperActorCritic(ActorCritic):
    """Actor and critic trunks whose hidden layers a hypernetwork generates from the task features.

    One task-embedding MLP (``task_dim -> hyper_hidden -> ReLU -> hyper_embed_dim``, then RMS
    normalisation) is shared by the actor and the critic; each generated layer has its own
    ``HyperLinear`` head. ``condition`` returns, per task, the weights and biases of the actor's
    hidden layers followed by the critic's.
    """

    def __init__(self, obs_dim: int, task_dim: int, action_space: spaces.Space, hidden_sizes: list[int],
                 activation: str, init_log_std: float, hyper_hidden: int, hyper_embed_dim: int) -> None:  # fmt: skip
        super().__init__(hidden_sizes[-1], action_space, init_log_std)
        self.embedding = MLP(task_dim, [hyper_hidden], "relu", outputs=hyper_embed_dim)
        sizes = [obs_dim, *hidden_sizes]
        pairs = list(zip(sizes, sizes[1:]))
        self.actor_layers = nn.ModuleList(HyperLinear(hyper_embed_dim, a, b, math.sqrt(2)) for a, b in pairs)
        self.critic_layers = nn.ModuleList(HyperLinear(hyper_embed_dim, a, b, math.sqrt(2)) for a, b in pairs)
        self.activation = ACTIVATIONS[activation]()

    def embed(self, features: Tensor) -> Tensor:
        """The RMS-normalised task embedding ``(n, hyper_embed_dim)``: every row has mean square 1."""
        e = self.embedding(features)
        return e * torch.rsqrt(e.square().mean(-1, keepdim=True) + 1e-8)

    def condition(self, features: Tensor) -> Condition:
        """Per task: weight and bias of each actor hidden layer, then of each critic hidden layer."""
        e = self.embed(features)
        return [t for layer in (*self.actor_layers, *self.critic_layers) for t in layer(e)]

    def trunks(self, obs: Tensor, condition: Condition) -> tuple[Tensor, Tensor]:
        depth = 2 * len(self.actor_layers)
        return self._trunk(obs, condition[:depth]), self._trunk(obs, condition[depth:])

    def _trunk(self, x: Tensor, params: Condition) -> Tensor:
        for weight, bias in zip(params[0::2], params[1::2]):
            x = self.activation(apply_generated(x, weight, bias))
        return x


def build_network(cfg: OracleConfig, obs_dim: int, task_dim: int, action_space: spaces.Space) -> ActorCritic:
    """The actor-critic of ``cfg.conditioning``."""
    if cfg.conditioning == "hypernetwork":
        return HyperActorCritic(obs_dim, task_dim, action_space, cfg.hidden_sizes, cfg.activation, cfg.init_log_std,
                                cfg.hyper_hidden, cfg.hyper_embed_dim)  # fmt: skip
    if cfg.conditioning in ("concat", "none"):
        used = task_dim if cfg.conditioning == "concat" else 0
        return ConcatActorCritic(obs_dim, used, action_space, cfg.hidden_sizes, cfg.activation, cfg.init_log_std)
    raise ValueError(f"conditioning={cfg.conditioning!r} is unknown; allowed: {list(CONDITIONINGS)}")
