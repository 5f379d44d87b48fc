"""The linear feature baseline of gradient-based meta-RL (Duan et al. 2016), fitted per task group."""

from __future__ import annotations

import torch
from torch import Tensor


def linear_baseline_features(obs: Tensor, time: Tensor) -> Tensor:
    """Duan et al. (2016)'s baseline features ``[o, o^2, t, t^2, t^3, 1]`` with ``t = step / 100``
    and observations clipped to [-10, 10] (as rllab / ProMP); ``obs`` ``(..., d)``, ``time`` ``(...)``
    the step index within the episode. Returns ``(..., 2 d + 4)`` in float64."""
    o = obs.flatten(time.ndim).double().clamp(-10.0, 10.0)
    t = (time.double() / 100.0)[..., None]
    return torch.cat([o, o.square(), t, t.square(), t**3, torch.ones_like(t)], dim=-1)


def fit_linear_baseline(features: Tensor, targets: Tensor, mask: Tensor, reg_coeff: float = 1e-5) -> Tensor:
    """Per-group ridge regressions of ``targets`` on ``features``, evaluated on every entry.

    ``features`` ``(G, M, F)``, ``targets`` and ``mask`` ``(G, M)``: group ``g`` (e.g. a task) is fit
    on its entries where ``mask`` is True by solving ``(X^T X + reg I) w = X^T y``; a group whose
    solution is not finite is solved again with the regularisation multiplied by 10, up to 4 times
    (as rllab's ``LinearFeatureBaseline``). Returns the fitted values ``(G, M)`` in ``targets``' dtype.
    """
    m = mask.to(features.dtype)[..., None]
    x = features * m
    gram = x.transpose(1, 2) @ x
    rhs = x.transpose(1, 2) @ targets.to(features.dtype)[..., None]
    eye = torch.eye(features.shape[-1], dtype=features.dtype, device=features.device)
    reg = torch.full((features.shape[0], 1, 1), float(reg_coeff), dtype=features.dtype, device=features.device)
    for _ in range(5):
        weights, _ = torch.linalg.solve_ex(gram + reg * eye, rhs)
        bad = ~torch.isfinite(weights).all(dim=(1, 2))
        if not bool(bad.any()):
            break
        reg = torch.where(bad[:, None, None], reg * 10.0, reg)
    weights = torch.nan_to_num(weights, nan=0.0, posinf=0.0, neginf=0.0)
    return (features @ weights).squeeze(-1).to(targets.dtype)
