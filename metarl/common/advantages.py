"""Returns and advantages over time-major batches: generalized advantage estimation, discounted
returns and (masked) normalisation."""

from __future__ import annotations

import torch
from torch import Tensor


def gae(
    rewards: Tensor,
    values: Tensor,
    dones: Tensor,
    last_value: Tensor,
    gamma: float,
    lam: float,
    timeouts: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimates and value targets for time-major ``(T, N)`` rollouts.

    ``dones[t]`` is 1 when step ``t`` ended the sequence the value function is defined over (no
    bootstrap past it); ``last_value`` ``(N,)`` bootstraps the step after ``T - 1``. Returns
    ``(advantages, returns)`` with ``returns = advantages + values``.

    ``timeouts[t]`` (optional) is 1 when step ``t`` ended an episode by its time limit: that
    step's advantage is zero (its value target is the prediction itself) and the estimate of the
    steps before it starts afresh there, as ``use_proper_time_limits`` in ikostrikov's
    pytorch-a2c-ppo-acktr, which VariBAD uses.
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_value, running = last_value, torch.zeros_like(last_value)
    for t in reversed(range(T)):
        keep = 1.0 - dones[t].float()
        delta = rewards[t] + gamma * next_value * keep - values[t]
        running = delta + gamma * lam * keep * running
        if timeouts is not None:
            running = running * (1.0 - timeouts[t].float())
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


def normalize(x: Tensor, mask: Tensor | None = None, eps: float = 1e-8, dim: int | tuple[int, ...] | None = None) -> Tensor:
    """``x`` shifted and scaled to zero mean, unit variance (over the entries where ``mask`` is True).

    With ``dim``, each slice along the other dimensions is normalized on its own over ``dim``
    (e.g. ``dim=(0, 2)`` of a ``(T, tasks, episodes)`` tensor normalizes per task), with the
    population variance of its masked entries.
    """
    if dim is not None:
        m = torch.ones_like(x) if mask is None else mask.to(x.dtype)
        count = m.sum(dim, keepdim=True).clamp(min=1.0)
        mean = (x * m).sum(dim, keepdim=True) / count
        var = ((x - mean).square() * m).sum(dim, keepdim=True) / count
        return (x - mean) / (var.sqrt() + eps)
    if mask is None:
        return (x - x.mean()) / (x.std() + eps)
    m = mask.float()
    count = m.sum().clamp(min=1.0)
    mean = (x * m).sum() / count
    var = ((x - mean).square() * m).sum() / count
    return (x - mean) / (var.sqrt() + eps)
