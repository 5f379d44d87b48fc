"""Running statistics for normalising observations, latents and returns."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor


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
