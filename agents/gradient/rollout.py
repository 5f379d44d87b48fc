"""Episodes of a meta-batch of tasks (``InnerRollout``) and their per-task advantages."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from metarl.common.advantages import discounted_returns, gae, normalize
from metarl.common.baselines import fit_linear_baseline, linear_baseline_features


@dataclass
class InnerRollout:
    """Episodes of ``n`` tasks, time-major ``(T, n, R, ...)``: ``R`` episodes per task side by side
    (training: parallel sub-envs) or one column of consecutive episodes (meta-test).

    ``actions`` are the policy's unclipped samples (what log-probabilities are of), ``env_actions``
    what the env got; ``mask`` marks valid steps; ``dones`` the steps that ended an episode;
    ``time`` the step index within the episode; ``old_out``/``old_log_std``/``old_log_prob`` the
    sampling policy's outputs. ``advantages`` are filled in by ``compute_advantages``.
    """

    obs: Tensor
    actions: Tensor
    env_actions: Tensor
    rewards: Tensor
    next_obs: Tensor
    dones: Tensor
    mask: Tensor
    time: Tensor
    old_out: Tensor
    old_log_prob: Tensor
    old_log_std: Tensor | None
    advantages: Tensor | None = None

    @property
    def num_tasks(self) -> int:
        """``n``."""
        return self.obs.shape[1]

    def task_major(self, x: Tensor) -> Tensor:
        """``(T, n, R, ...)`` -> ``(n, T * R, ...)``, the layout ``task_outputs`` reads."""
        return x.transpose(0, 1).flatten(1, 2)

    def time_major(self, x: Tensor) -> Tensor:
        """Inverse of ``task_major``."""
        T, R = self.obs.shape[0], self.obs.shape[2]
        return x.unflatten(1, (T, R)).transpose(0, 1)


def stack_steps(steps: list[dict[str, Tensor]], log_std: Tensor | None) -> InnerRollout:
    """A ``InnerRollout`` with ``R = 1`` from per-step dicts of ``(n, ...)`` tensors (meta-test buffers)."""
    fields = {k: torch.stack([s[k] for s in steps])[:, :, None] for k in steps[0]}
    return InnerRollout(**fields, old_log_std=log_std)


def compute_advantages(rollout: InnerRollout, gamma: float, gae_lambda: float, baseline_reg: float) -> Tensor:
    """Per-task advantages ``(T, n, R)``: linear feature baseline fitted on the task's discounted
    returns, GAE cut at episode ends (no bootstrap: time limits count as ends, as the references),
    normalised over the task's valid steps."""
    T, n, R = rollout.rewards.shape
    rewards = rollout.rewards * rollout.mask
    flat = lambda x: x.reshape(T, n * R)  # noqa: E731
    returns = discounted_returns(flat(rewards), flat(rollout.dones), gamma).view(T, n, R)
    features = rollout.task_major(linear_baseline_features(rollout.obs, rollout.time))
    values = fit_linear_baseline(features, rollout.task_major(returns), rollout.task_major(rollout.mask), baseline_reg)
    values = rollout.time_major(values) * rollout.mask
    advantages, _ = gae(flat(rewards), flat(values), flat(rollout.dones), torch.zeros(n * R, device=rewards.device),
                        gamma, gae_lambda)  # fmt: skip
    return normalize(advantages.view(T, n, R), rollout.mask, dim=(0, 2))


def per_task_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` ``(T, n, R)`` over each task's valid steps: ``(n,)``."""
    m = mask.to(x.dtype)
    return (x * m).sum((0, 2)) / m.sum((0, 2)).clamp(min=1.0)
