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


class RewardNormalizer:
    """Rewards divided by the running standard deviation of the discounted return, optionally clipped:
    the one reward normaliser of the on-policy agents (gymnasium's ``NormalizeReward``, baselines'
    ``VecNormalize``). ``rms`` holds the statistics (checkpointed by the learner).

    ``reset`` says when the running return restarts in ``step``: ``"episode"`` after the step that
    ends an episode, whose return the statistics see (gymnasium, CleanRL: the oracle);
    ``"trial"`` at the trial's last step, before the statistics see it (VariBAD's ``VecNormalize``
    on whole trials). ``batch`` scales a whole collected batch at once instead (RL^2: each trial is
    one episode, its returns update the statistics together and every step is divided by the result).
    """

    def __init__(self, num_envs: int, gamma: float, clip: float | None, reset: str, device: torch.device | str) -> None:
        if reset not in ("episode", "trial"):
            raise ValueError(f"reset={reset!r} is not allowed; allowed: 'episode', 'trial'")
        self.gamma, self.clip, self.reset = gamma, clip, reset
        self.rms = RunningMeanStd((), device)
        self.discounted = torch.zeros(num_envs, dtype=torch.float64, device=device)

    def restart(self) -> None:
        """Fresh episodes (or trials) in every sub-env: the running returns start again from 0."""
        self.discounted = torch.zeros_like(self.discounted)

    def step(self, reward: Tensor, end: Tensor, valid: Tensor | None = None) -> Tensor:
        """One step of every sub-env: fold the discounted return of the ``valid`` rows into the
        statistics and return the scaled rewards (float32). ``end``: the step ends the episode or
        the trial (as ``reset`` says)."""
        self.discounted = self.discounted * self.gamma + reward
        if self.reset == "trial":
            self.discounted = torch.where(end, 0.0, self.discounted)
        returns = self.discounted if valid is None else self.discounted[valid]
        if returns.numel():
            self.rms.update(returns)
        if self.reset == "episode":
            self.discounted = torch.where(end, 0.0, self.discounted)
        return self._scale(reward)

    def batch(self, rewards: Tensor, mask: Tensor) -> Tensor:
        """Time-major rewards ``(T, N)`` of whole trials scaled at once: the discounted returns of
        every step (from 0 at the trial's start) where ``mask`` update the statistics, then every
        reward is divided by their std."""
        running = torch.zeros_like(rewards[0])
        returns = []
        for t in range(rewards.shape[0]):
            running = running * self.gamma + rewards[t]
            returns.append(running)
        self.rms.update(torch.stack(returns)[mask])
        scaled = rewards / self.rms.std().float()
        return scaled if self.clip is None else scaled.clamp(-self.clip, self.clip)

    def _scale(self, reward: Tensor) -> Tensor:
        scaled = reward / self.rms.std()
        return (scaled if self.clip is None else scaled.clamp(-self.clip, self.clip)).float()
