"""PPO: its config, the clipped objective with its value and entropy terms, the minibatch split
that keeps recurrent sequences whole, and the clipped optimizer step."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn as nn
from torch import Tensor

from metarl.common.checks import check


@dataclass
class PPOConfig:
    """PPO hyperparameters (defaults: Schulman et al. 2017 / CleanRL)."""

    lr: float = 3e-4
    epochs: int = 4
    num_minibatches: int = 4
    clip: float = 0.2
    value_clip: float | None = None
    value_loss: Literal["mse", "huber"] = "mse"  # huber: smooth L1 (ikostrikov / VariBAD ppo_use_huberloss)
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
        check(self.value_loss in ("mse", "huber"), "value_loss", self.value_loss, "'mse' or 'huber'")
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
    the entries where ``mask`` is True (all when None). Advantages are used as given.

    ``mask`` may also hold non-negative float weights: the averages are then weighted means
    (e.g. weights ``1 / steps of the entry's task`` give the mean over tasks of per-task means).
    The value loss is half the mean squared error (``cfg.value_loss="huber"``: half the mean
    smooth-L1 error), each entry the larger of the plain and the clipped error when ``value_clip``.
    """
    m = torch.ones_like(log_prob) if mask is None else mask.float()
    count = m.sum().clamp(min=1.0)

    def mean(x: Tensor) -> Tensor:
        return (x * m).sum() / count

    log_ratio = log_prob - old_log_prob
    ratio = log_ratio.exp()
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * advantages)
    error = value_error(value, returns, cfg.value_loss)
    if cfg.value_clip is not None:
        clipped = old_value + (value - old_value).clamp(-cfg.value_clip, cfg.value_clip)
        error = torch.max(error, value_error(clipped, returns, cfg.value_loss))
    with torch.no_grad():
        approx_kl = mean((ratio - 1) - log_ratio)  # the low-variance k3 estimator
        clip_fraction = mean(((ratio - 1).abs() > cfg.clip).float())
    return PPOLosses(-mean(surrogate), 0.5 * mean(error), mean(entropy), approx_kl, clip_fraction)


def value_error(value: Tensor, returns: Tensor, kind: str) -> Tensor:
    """Per-entry squared error, or smooth L1 (Huber with threshold 1) for ``kind="huber"``."""
    if kind == "huber":
        return nn.functional.smooth_l1_loss(value, returns, reduction="none")
    return (value - returns).square()


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
