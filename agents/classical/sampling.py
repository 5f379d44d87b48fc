"""Random draws of the classical agents from their own seeded generator: Gamma and Beta samples,
argmax with random tie-breaking; and the positivity check of their constructor arguments."""

from __future__ import annotations

import torch
from torch import Tensor


def sample_gamma(alpha: Tensor, generator: torch.Generator) -> Tensor:
    """Gamma(``alpha``, 1) draws shaped like ``alpha`` from ``generator``'s stream.

    Marsaglia & Tsang (2000) rejection sampling, vectorized: every element draws until accepted
    (acceptance is above 95% per round for ``alpha >= 1``). ``alpha < 1`` uses the boost
    ``Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha)``. Written here because torch's own Gamma
    sampler takes no generator, and the agents must be reproducible from their seed.
    """
    if not bool((alpha > 0).all()):
        raise ValueError(f"Gamma shape parameters must be > 0, got a minimum of {float(alpha.min())}")
    flat = alpha.reshape(-1)
    boosted = torch.where(flat < 1, flat + 1, flat)
    d = boosted - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.empty_like(flat)
    todo = torch.arange(flat.numel(), device=flat.device)
    while todo.numel():
        dd, cc = d[todo], c[todo]
        x = torch.randn(dd.shape, generator=generator, dtype=dd.dtype, device=dd.device)
        v = (1.0 + cc * x) ** 3
        u = torch.rand(dd.shape, generator=generator, dtype=dd.dtype, device=dd.device)
        accept = (v > 0) & (torch.log(u) < 0.5 * x * x + dd - dd * v + dd * torch.log(v.clamp_min(1e-300)))
        out[todo[accept]] = (dd * v)[accept]
        todo = todo[~accept]
    small = flat < 1
    if bool(small.any()):
        u = torch.rand(flat.shape, generator=generator, dtype=flat.dtype, device=flat.device)
        out = torch.where(small, out * u.pow(1.0 / flat), out)
    return out.reshape(alpha.shape)


def sample_beta(a: Tensor, b: Tensor, generator: torch.Generator) -> Tensor:
    """Beta(``a``, ``b``) draws, elementwise: ``X / (X + Y)`` with ``X ~ Gamma(a)``, ``Y ~ Gamma(b)``."""
    x = sample_gamma(a, generator)
    y = sample_gamma(b, generator)
    return x / (x + y)


def random_argmax(values: Tensor, generator: torch.Generator) -> Tensor:
    """Index of the largest value along the last dim, ties broken uniformly at random (int64).

    Random tie-breaking matters here: untried arms all have the same score, and always taking the
    first one would make the agents' exploration depend on arm order.
    """
    best = values.max(dim=-1, keepdim=True).values
    noise = torch.rand(values.shape, generator=generator, dtype=torch.float32, device=values.device)
    return torch.where(values >= best, noise, torch.full_like(noise, -1.0)).argmax(dim=-1)


def check_positive(name: str, value: float) -> None:
    """``ValueError`` unless ``value > 0``."""
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")

