"""The outer loop: the post-adaptation meta-objective and the meta-updates that optimise it.

The meta-objective recomputes the adaptation from the current meta-parameters through the
pre-adaptation rollouts and evaluates the adapted policies on the post-adaptation rollout (the
ratio of the adapted policy to the one that sampled it). Its optimisers: ``trpo`` (conjugate
gradient on the Fisher-vector product of the KL of the adapted policies, differentiated through
the inner step, and a backtracking line search, as pytorch-maml-rl's MAML-TRPO), ``ppo``
(clipped surrogate, several Adam epochs, the adaptation recomputed each epoch) and ``promp``
(``ppo`` plus ProMP's penalty on the KL between the pre-update policy and the one that sampled
the pre-update episodes).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from metarl.agents.gradient.config import GradientMetaConfig
from metarl.agents.gradient.inner import Adaptation, adapt, policy_log_prob
from metarl.agents.gradient.networks import MetaPolicy
from metarl.agents.gradient.rollout import InnerRollout, per_task_mean
from torch import Tensor
from torch.distributions import Distribution, kl_divergence

from metarl.common.ppo import PPOConfig, clip_grad_and_step, ppo_losses
from metarl.common.trpo import trpo_step


# ----- the meta-objective -------------------------------------------------------------------------
@dataclass
class MetaObjective:
    """The post-adaptation surrogate terms for the current meta-parameters."""

    log_prob: Tensor  # (T, n, R) adapted policy on the last rollout
    kl: Tensor  # scalar: mean over tasks of KL(sampling || adapted) on the last rollout
    inner_kls: list[Tensor]  # per inner step: mean KL(sampling || current pre-step policy)

    def ratio(self, rollout: InnerRollout) -> Tensor:
        """Likelihood ratio of the adapted policy to the sampling one ``(T, n, R)``."""
        return torch.exp(self.log_prob - rollout.old_log_prob)


def old_distribution(policy: MetaPolicy, rollout: InnerRollout) -> Distribution:
    """The sampling policy's distribution on the rollout (task-major), for KL divergences."""
    log_std = None if rollout.old_log_std is None else rollout.old_log_std[:, None, :]
    return policy.head.distribution(rollout.task_major(rollout.old_out), log_std)


def mean_kl(dist_old: Distribution, dist_new: Distribution, rollout: InnerRollout) -> Tensor:
    """Mean over tasks of the mean KL over each task's valid steps."""
    return per_task_mean(rollout.time_major(kl_divergence(dist_old, dist_new)), rollout.mask).mean()


def meta_objective(adaptation: Adaptation, rollouts: list[InnerRollout], kind: str, create_graph: bool,
                   inner_kl: bool = False) -> MetaObjective:  # fmt: skip
    """Recompute the adaptation from the meta-parameters through the pre-adaptation rollouts,
    and evaluate the adapted policies on the last rollout. ``inner_kl``: also the KL of each
    pre-step policy from the one that sampled its rollout (ProMP's penalty)."""
    fast = adapt(adaptation, rollouts[:-1], kind, create_graph)
    inner_kls = []
    if inner_kl:
        for f, rollout in zip(fast[:-1], rollouts[:-1]):
            _, dist = policy_log_prob(adaptation, f, rollout)
            inner_kls.append(mean_kl(old_distribution(adaptation.policy, rollout), dist, rollout))
    last = rollouts[-1]
    log_prob, dist = policy_log_prob(adaptation, fast[-1], last)
    return MetaObjective(log_prob, mean_kl(old_distribution(adaptation.policy, last), dist, last), inner_kls)


def surrogate_loss(objective: MetaObjective, rollout: InnerRollout) -> Tensor:
    """MAML-TRPO's outer loss: mean over tasks of ``-mean(ratio * A)`` on the post-adaptation rollout."""
    return -per_task_mean(objective.ratio(rollout) * rollout.advantages, rollout.mask).mean()


def task_weights(rollout: InnerRollout) -> Tensor:
    """Weights ``(T, n, R)`` that turn a weighted mean over all entries into the mean over tasks of
    per-task means (``ppo_losses`` reads them as its mask)."""
    m = rollout.mask.float()
    return m / m.sum((0, 2), keepdim=True).clamp(min=1.0)


# ----- the meta-updates ---------------------------------------------------------------------------
def trpo_update(adaptation: Adaptation, rollouts: list[InnerRollout], cfg: GradientMetaConfig) -> dict[str, float]:
    """MAML-TRPO's meta-update (second-order unless ``first_order``; the line search evaluates
    the adaptation with first-order inner steps, as only values are needed)."""
    last = rollouts[-1]

    def objective(differentiable: bool) -> tuple[Tensor, Tensor]:
        obj = meta_objective(adaptation, rollouts, cfg.inner_objective, differentiable and not cfg.first_order)
        loss, kl = surrogate_loss(obj, last), obj.kl
        return (loss, kl) if differentiable else (loss.detach(), kl.detach())

    return trpo_step(list(adaptation.parameters()), objective, cfg.trpo)


def ppo_update(adaptation: Adaptation, optimizer: torch.optim.Optimizer, rollouts: list[InnerRollout],
               cfg: GradientMetaConfig, inner_kl_coeffs: list[float]) -> tuple[dict[str, float], list[float]]:  # fmt: skip
    """``ppo.epochs`` Adam steps on the clipped post-adaptation surrogate (``promp``: plus the
    inner KL penalty with ``inner_kl_coeffs``, one per inner step), the adaptation recomputed
    from the current meta-parameters each time. Returns the metrics and the coefficients for
    the next update (changed only by ``promp.adaptive_inner_kl``)."""
    last = rollouts[-1]
    clip_cfg = PPOConfig(clip=cfg.ppo.clip)
    weights = task_weights(last)
    zeros = torch.zeros_like(last.rewards)
    max_norm = math.inf if cfg.ppo.max_grad_norm is None else cfg.ppo.max_grad_norm
    promp = cfg.outer == "promp"
    for _ in range(cfg.ppo.epochs):
        obj = meta_objective(adaptation, rollouts, cfg.inner_objective, not cfg.first_order, inner_kl=promp)
        losses = ppo_losses(clip_cfg, obj.log_prob, last.old_log_prob, last.advantages, zeros, zeros, zeros, zeros,
                            weights)  # fmt: skip
        penalty = sum((c * kl for c, kl in zip(inner_kl_coeffs, obj.inner_kls)), 0.0)
        loss = losses.policy + penalty / max(len(obj.inner_kls), 1)
        grad_norm = clip_grad_and_step(optimizer, loss, max_norm)
    metrics = {k: v for k, v in losses.metrics().items() if k not in ("losses/value_loss", "losses/entropy")}
    metrics.update({"losses/kl": obj.kl.item(), "losses/grad_norm": grad_norm})
    if promp:
        inner = [kl.item() for kl in obj.inner_kls]
        if cfg.promp.adaptive_inner_kl:
            inner_kl_coeffs = [adapt_kl_coeff(c, kl, cfg.promp.target_inner_kl)
                               for c, kl in zip(inner_kl_coeffs, inner)]  # fmt: skip
        metrics.update({"losses/inner_kl": float(np.mean(inner)), "losses/inner_kl_coeff": float(np.mean(inner_kl_coeffs))})
    return metrics, inner_kl_coeffs


def adapt_kl_coeff(coeff: float, kl: float, target: float) -> float:
    """ProMP's adaptive penalty: halve below ``target / 1.5``, double above ``target * 1.5``."""
    if kl < target / 1.5:
        return coeff / 2
    if kl > target * 1.5:
        return coeff * 2
    return coeff
