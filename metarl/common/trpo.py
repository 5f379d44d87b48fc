"""TRPO's step: conjugate gradient on Fisher-vector products, then a backtracking line search
within the KL trust region (the outer step of MAML and RL^2's slow learner)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn
from torch import Tensor

from metarl.common.checks import check


def conjugate_gradient(matvec: Callable[[Tensor], Tensor], b: Tensor, iters: int = 10, residual_tol: float = 1e-10) -> Tensor:
    """Approximate solution of ``A x = b`` for a symmetric positive definite ``A`` given as
    ``matvec(v) = A v``, by at most ``iters`` conjugate-gradient iterations from ``x = 0``."""
    x = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    rr = r.dot(r)
    for _ in range(iters):
        if rr.item() < residual_tol:
            break
        ap = matvec(p)
        alpha = rr / p.dot(ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r.dot(r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


@dataclass
class TRPOConfig:
    """Trust-region step (Schulman et al. 2015); defaults are pytorch-maml-rl's MAML-TRPO configs."""

    max_kl: float = 1e-2
    cg_iters: int = 10
    cg_damping: float = 1e-5
    ls_max_steps: int = 15
    ls_backtrack_ratio: float = 0.8

    def __post_init__(self) -> None:
        for name in ("max_kl", "cg_iters", "ls_max_steps"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        check(self.cg_damping >= 0, "cg_damping", self.cg_damping, ">= 0")
        check(0 < self.ls_backtrack_ratio < 1, "ls_backtrack_ratio", self.ls_backtrack_ratio, "(0, 1)")


def trpo_step(
    params: Sequence[nn.Parameter],
    objective: Callable[[bool], tuple[Tensor, Tensor]],
    cfg: TRPOConfig,
) -> dict[str, float]:
    """One TRPO update of ``params`` in place: minimise a surrogate loss under ``KL <= max_kl``.

    ``objective(differentiable)`` returns ``(loss, kl)`` at the current parameters, ``kl`` being
    the mean KL divergence from the data-collecting policy (zero at the starting point). With
    ``differentiable=True`` it must keep the graph for first and second derivatives; the line
    search calls it with ``False``, when only the values are needed. The step direction solves ``(H + damping I) x = g``
    by conjugate gradient, ``H`` the Hessian of ``kl`` (Fisher-vector products by double
    backpropagation), scaled to the trust-region boundary; the line search shrinks it by
    ``ls_backtrack_ratio`` until the loss decreases and the KL is within ``max_kl``, and leaves
    the parameters unchanged if no step qualifies. Returns diagnostics.
    """
    params = list(params)
    loss, kl = objective(True)
    old_loss = loss.item()
    g, step = _trust_region_step(params, loss, kl, cfg)
    del loss, kl  # free the double-backward graph before the line search
    old = nn.utils.parameters_to_vector(params).detach()
    fraction = 1.0
    for tries in range(1, cfg.ls_max_steps + 1):
        nn.utils.vector_to_parameters(old - fraction * step, params)
        new_loss, new_kl = objective(False)
        if new_loss.item() < old_loss and new_kl.item() < cfg.max_kl:
            return {"losses/loss_before": old_loss, "losses/loss_after": new_loss.item(), "losses/kl": new_kl.item(),
                    "losses/line_search_steps": float(tries), "losses/grad_norm": g.norm().item()}  # fmt: skip
        fraction *= cfg.ls_backtrack_ratio
    nn.utils.vector_to_parameters(old, params)
    return {"losses/loss_before": old_loss, "losses/loss_after": old_loss, "losses/kl": 0.0,
            "losses/line_search_steps": float(cfg.ls_max_steps + 1), "losses/grad_norm": g.norm().item()}  # fmt: skip


def _trust_region_step(params: list[nn.Parameter], loss: Tensor, kl: Tensor, cfg: TRPOConfig) -> tuple[Tensor, Tensor]:
    """The loss gradient ``g`` and TRPO's full step ``x / sqrt(x^T H x / (2 max_kl))`` with
    ``(H + damping I) x = g`` solved by conjugate gradient on Fisher-vector products."""
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(loss, params, retain_graph=True)]).detach()
    flat_kl_grad = torch.cat([x.reshape(-1) for x in torch.autograd.grad(kl, params, create_graph=True)])

    def fisher_vector(v: Tensor) -> Tensor:
        hv = torch.autograd.grad(flat_kl_grad.dot(v), params, retain_graph=True)
        return torch.cat([x.reshape(-1) for x in hv]).detach() + cfg.cg_damping * v

    direction = conjugate_gradient(fisher_vector, g, cfg.cg_iters)
    shs = 0.5 * direction.dot(fisher_vector(direction))
    return g, direction / torch.sqrt(shs / cfg.max_kl).clamp(min=1e-12)
