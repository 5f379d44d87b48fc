"""On-policy building blocks shared by every policy-gradient agent (RL^2, VariBAD, MAML, CAVIA, the oracle).

One implementation each of: the action distribution of a gymnasium space, the trial input
``(obs, previous action, previous reward, done flag)`` that recurrent meta-learners read,
generalized advantage estimation over time-major batches, the clipped PPO objective, and the
minibatch split that keeps each sub-env's sequence whole for recurrent networks. All functions
work on batched tensors on any device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn as nn
from gymnasium import spaces
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, Normal

from .config import check


# ----- actions -------------------------------------------------------------------------------------
def check_action_space(space: spaces.Space) -> None:
    """Raise unless ``space`` is a ``Discrete`` or a bounded ``Box`` (what the policies here support)."""
    if isinstance(space, spaces.Discrete):
        return
    if isinstance(space, spaces.Box) and space.is_bounded("both") and len(space.shape) == 1:
        return
    raise ValueError(f"unsupported action space {space!r}; allowed: Discrete or a bounded 1-D Box")


def action_dim(space: spaces.Space) -> int:
    """Width of an action as a network input: arms of a ``Discrete`` (one-hot), else the Box size."""
    check_action_space(space)
    return int(space.n) if isinstance(space, spaces.Discrete) else int(space.shape[0])


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
        self.linear = nn.Linear(features, action_dim(space))
        nn.init.orthogonal_(self.linear.weight, gain)
        nn.init.zeros_(self.linear.bias)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((action_dim(space),), float(init_log_std)))
            self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))

    def forward(self, features: Tensor) -> Distribution:
        """The action distribution for ``features`` ``(..., features)``."""
        out = self.linear(features)
        if self.discrete:
            return Categorical(logits=out)
        return Independent(Normal(out, self.log_std.exp().expand_as(out)), 1)

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


def trial_input(obs: Tensor, prev_action: Tensor, prev_reward: Tensor, prev_done: Tensor, space: spaces.Space) -> Tensor:
    """RL^2's per-step input: ``[obs, encode_action(prev_action), prev_reward, prev_done]``.

    ``prev_*`` describe the step that led to ``obs`` (zeros at the start of a trial);
    ``prev_done`` is 1 when that step ended an episode, so the network sees episode boundaries.
    """
    return torch.cat(
        [obs.flatten(1).float(), encode_action(prev_action, space), prev_reward.float()[:, None], prev_done.float()[:, None]],
        dim=-1,
    )


def trial_input_dim(obs_space: spaces.Space, space: spaces.Space) -> int:
    """Width of ``trial_input`` for one sub-env."""
    return int(torch.Size(obs_space.shape).numel()) + action_dim(space) + 2


# ----- advantages ----------------------------------------------------------------------------------
def gae(rewards: Tensor, values: Tensor, dones: Tensor, last_value: Tensor, gamma: float, lam: float) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimates and value targets for time-major ``(T, N)`` rollouts.

    ``dones[t]`` is 1 when step ``t`` ended the sequence the value function is defined over (no
    bootstrap past it); ``last_value`` ``(N,)`` bootstraps the step after ``T - 1``. Returns
    ``(advantages, returns)`` with ``returns = advantages + values``.
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_value, running = last_value, torch.zeros_like(last_value)
    for t in reversed(range(T)):
        keep = 1.0 - dones[t].float()
        delta = rewards[t] + gamma * next_value * keep - values[t]
        running = delta + gamma * lam * keep * running
        advantages[t] = running
        next_value = values[t]
    return advantages, advantages + values


def discounted_returns(rewards: Tensor, dones: Tensor, gamma: float) -> Tensor:
    """Reward-to-go ``sum_k gamma^k r_{t+k}`` within each sequence of time-major ``(T, N)`` rewards."""
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1.0 - dones[t].float()) * running
        out[t] = running
    return out


def normalize(x: Tensor, mask: Tensor | None = None, eps: float = 1e-8) -> Tensor:
    """``x`` shifted and scaled to zero mean, unit variance (over the entries where ``mask`` is True)."""
    if mask is None:
        return (x - x.mean()) / (x.std() + eps)
    m = mask.float()
    count = m.sum().clamp(min=1.0)
    mean = (x * m).sum() / count
    var = ((x - mean).square() * m).sum() / count
    return (x - mean) / (var.sqrt() + eps)


class RunningMeanStd:
    """Running mean and variance of a stream of batches (Chan et al.'s parallel update), in float64.

    PPO's reward scaling divides rewards by the standard deviation of the discounted return
    (gymnasium's ``NormalizeReward``, VariBAD's ``norm_rew_for_policy``): ``update`` with the
    returns, then ``rewards / rms.std()``.
    """

    def __init__(self, shape: tuple[int, ...] = (), device: torch.device | str = "cpu", epsilon: float = 1e-4) -> None:
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = float(epsilon)  # a tiny prior count keeps the first update well defined

    def update(self, x: Tensor) -> None:
        """Fold in the batch ``x`` ``(B, *shape)``."""
        x = x.detach().to(self.mean.device, torch.float64)
        batch_mean, batch_var, batch_count = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        total = self.count + batch_count
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta.square() * self.count * batch_count / total
        self.var, self.count = m2 / total, total

    def std(self, eps: float = 1e-8) -> Tensor:
        """``sqrt(var + eps)``."""
        return (self.var + eps).sqrt()

    def state_dict(self) -> dict[str, Any]:
        """Mean, variance and count (for checkpoints)."""
        return {"mean": self.mean.clone(), "var": self.var.clone(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict`` output."""
        self.mean = state["mean"].to(self.mean.device)
        self.var = state["var"].to(self.var.device)
        self.count = float(state["count"])


# ----- PPO -----------------------------------------------------------------------------------------
@dataclass
class PPOConfig:
    """PPO hyperparameters (defaults: Schulman et al. 2017 / CleanRL)."""

    lr: float = 3e-4
    epochs: int = 4
    num_minibatches: int = 4
    clip: float = 0.2
    value_clip: float | None = None
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    max_grad_norm: float = 0.5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    normalize_advantages: bool = True

    def __post_init__(self) -> None:
        for name in ("lr", "epochs", "num_minibatches", "clip", "max_grad_norm"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        for name in ("value_coef", "entropy_coef"):
            check(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        check(self.value_clip is None or self.value_clip > 0, "value_clip", self.value_clip, "null or > 0")
        check(0 <= self.gamma <= 1, "gamma", self.gamma, "[0, 1]")
        check(0 <= self.gae_lambda <= 1, "gae_lambda", self.gae_lambda, "[0, 1]")


@dataclass(frozen=True)
class PPOLosses:
    """The terms of the PPO objective for one minibatch, and diagnostics."""

    policy: Tensor
    value: Tensor
    entropy: Tensor
    approx_kl: Tensor
    clip_fraction: Tensor

    def total(self, cfg: PPOConfig) -> Tensor:
        """``policy + value_coef * value - entropy_coef * entropy``."""
        return self.policy + cfg.value_coef * self.value - cfg.entropy_coef * self.entropy

    def metrics(self) -> dict[str, float]:
        """TensorBoard scalars (``losses/*``)."""
        return {
            "losses/policy_loss": self.policy.item(),
            "losses/value_loss": self.value.item(),
            "losses/entropy": self.entropy.item(),
            "losses/approx_kl": self.approx_kl.item(),
            "losses/clip_fraction": self.clip_fraction.item(),
        }


def ppo_losses(
    cfg: PPOConfig,
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    entropy: Tensor,
    value: Tensor,
    old_value: Tensor,
    returns: Tensor,
    mask: Tensor | None = None,
) -> PPOLosses:
    """The clipped surrogate, the (optionally clipped) value loss and the entropy, averaged over
    the entries where ``mask`` is True (all when None). Advantages are used as given."""
    m = torch.ones_like(log_prob) if mask is None else mask.float()
    count = m.sum().clamp(min=1.0)

    def mean(x: Tensor) -> Tensor:
        return (x * m).sum() / count

    log_ratio = log_prob - old_log_prob
    ratio = log_ratio.exp()
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * advantages)
    value_error = (value - returns).square()
    if cfg.value_clip is not None:
        clipped = old_value + (value - old_value).clamp(-cfg.value_clip, cfg.value_clip)
        value_error = torch.max(value_error, (clipped - returns).square())
    with torch.no_grad():
        approx_kl = mean((ratio - 1) - log_ratio)  # the low-variance k3 estimator
        clip_fraction = mean(((ratio - 1).abs() > cfg.clip).float())
    return PPOLosses(-mean(surrogate), 0.5 * mean(value_error), mean(entropy), approx_kl, clip_fraction)


def minibatch_indices(n: int, num_minibatches: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> list[Tensor]:
    """A random split of ``range(n)`` into ``min(num_minibatches, n)`` near-equal index tensors.

    Recurrent agents split the sub-env axis with it, so every minibatch holds whole sequences.
    """
    perm = torch.randperm(n, generator=generator, device=device)
    return list(perm.tensor_split(min(num_minibatches, n)))


def clip_grad_and_step(optimizer: torch.optim.Optimizer, loss: Tensor, max_grad_norm: float) -> float:
    """Backpropagate ``loss``, clip the gradient norm of the optimizer's parameters, step; returns the norm."""
    optimizer.zero_grad()
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    norm = nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    return float(norm)
