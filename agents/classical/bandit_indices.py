"""Bandit agents that score each arm independently: Thompson sampling, UCB1 and (epsilon-)greedy,
on Bernoulli or Gaussian arms."""

from __future__ import annotations

from typing import Literal

import torch
from metarl.agents.classical.agent import ArmStats, BanditAgent
from metarl.agents.classical.sampling import check_positive, sample_beta
from torch import Tensor

BanditKind = Literal["bernoulli", "gaussian"]
BANDIT_KINDS: tuple[str, ...] = ("bernoulli", "gaussian")


class ThompsonSamplingAgent(BanditAgent):
    """Thompson sampling (Thompson, 1933): pull the arm whose posterior sample is largest.

    ``kind="bernoulli"``: arm means have independent Beta(``prior_alpha``, ``prior_beta``)
    priors (default Beta(1, 1), the uniform distribution ``BernoulliBandit-v0`` draws them from);
    the posterior of an arm with ``s`` successes in ``m`` pulls is Beta(alpha + s, beta + m - s).
    ``kind="gaussian"``: arm means have N(``prior_mean``, ``prior_std``^2) priors (default N(0, 1),
    as ``GaussianBandit-v0``) and rewards known noise ``reward_std``; the posterior is Gaussian
    with precision ``1/prior_std^2 + m/reward_std^2``.
    """

    name = "thompson"

    def __init__(
        self,
        num_arms: int,
        kind: BanditKind,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        prior_mean: float = 0.0,
        prior_std: float = 1.0,
        reward_std: float = 1.0,
    ) -> None:
        super().__init__(num_arms, seed, device)
        if kind not in BANDIT_KINDS:
            raise ValueError(f"kind must be one of {BANDIT_KINDS}, got {kind!r}")
        for name, value in (("prior_alpha", prior_alpha), ("prior_beta", prior_beta), ("prior_std", prior_std),
                            ("reward_std", reward_std)):  # fmt: skip
            check_positive(name, value)
        self.kind = kind
        self.prior_alpha, self.prior_beta = prior_alpha, prior_beta
        self.prior_mean, self.prior_std, self.reward_std = prior_mean, prior_std, reward_std

    def scores(self, stats: ArmStats) -> Tensor:
        """One posterior sample of each arm's mean."""
        if self.kind == "bernoulli":
            a = self.prior_alpha + stats.reward_sum
            b = self.prior_beta + stats.pulls - stats.reward_sum
            return sample_beta(a, b, self.generator)
        precision = self.prior_std**-2 + stats.pulls / self.reward_std**2
        mean = (self.prior_mean * self.prior_std**-2 + stats.reward_sum / self.reward_std**2) / precision
        noise = torch.randn(mean.shape, generator=self.generator, dtype=mean.dtype, device=mean.device)
        return mean + noise / precision.sqrt()


class UCB1Agent(BanditAgent):
    """UCB1 (Auer, Cesa-Bianchi & Fischer, 2002): pull each arm once, then the arm maximising
    ``mean_j + sqrt(c * ln(t) / pulls_j)``, ``t`` the pulls so far; Auer et al.'s UCB1 is ``c = 2``.
    """

    name = "ucb1"

    def __init__(self, num_arms: int, seed: int = 0, device: str | torch.device = "cpu", *, c: float = 2.0) -> None:
        super().__init__(num_arms, seed, device)
        check_positive("c", c)
        self.c = c

    def scores(self, stats: ArmStats) -> Tensor:
        """Upper confidence bounds; ``inf`` for arms not pulled yet, so they are pulled first."""
        t = stats.total_pulls.clamp_min(1).unsqueeze(-1)
        pulls = stats.pulls.clamp_min(1)
        bound = stats.reward_sum / pulls + torch.sqrt(self.c * torch.log(t) / pulls)
        return torch.where(stats.pulls > 0, bound, torch.inf)


class GreedyAgent(BanditAgent):
    """Greedy on each arm's mean-reward estimate, with epsilon-exploration when ``epsilon > 0``.

    The estimate is ``(reward_sum + prior_pulls * prior_mean) / (pulls + prior_pulls)``. With the
    default ``prior_pulls = 0`` it is the empirical mean, and arms not pulled yet count as best,
    so every arm is pulled once first. ``prior_pulls > 0`` gives the posterior mean of a
    conjugate prior instead (Bernoulli arms, Beta(1, 1): ``prior_pulls=2, prior_mean=0.5``;
    Gaussian arms, N(0, 1) with unit noise: ``prior_pulls=1, prior_mean=0``), and unpulled arms
    are valued at ``prior_mean``. The arm with the highest estimate is pulled (ties at random),
    except that with probability ``epsilon`` an arm is drawn uniformly at random instead.
    """

    def __init__(
        self,
        num_arms: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        epsilon: float = 0.0,
        prior_mean: float = 0.0,
        prior_pulls: float = 0.0,
    ) -> None:
        super().__init__(num_arms, seed, device)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        if not prior_pulls >= 0.0:
            raise ValueError(f"prior_pulls must be >= 0, got {prior_pulls!r}")
        self.epsilon, self.prior_mean, self.prior_pulls = epsilon, prior_mean, prior_pulls
        base = "greedy" if prior_pulls == 0 else "greedy-posterior"
        self.name = base if epsilon == 0 else f"epsilon-{base}({epsilon:g})"

    def scores(self, stats: ArmStats) -> Tensor:
        """Mean-reward estimates (``inf`` for never-pulled arms without a prior), replaced by noise
        in the rows that explore."""
        pulls = stats.pulls + self.prior_pulls
        estimate = (stats.reward_sum + self.prior_pulls * self.prior_mean) / pulls.clamp_min(1e-300)
        estimate = torch.where(pulls > 0, estimate, torch.inf)
        if self.epsilon == 0:
            return estimate
        explore = torch.rand(estimate.shape[:1], generator=self.generator, device=estimate.device) < self.epsilon
        noise = torch.rand(estimate.shape, generator=self.generator, dtype=estimate.dtype, device=estimate.device)
        return torch.where(explore.unsqueeze(-1), noise, estimate)

