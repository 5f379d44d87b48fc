"""Classical reference agents for the RL^2 families, driven through the adaptation interface.

The rows of the RL^2 paper's tables (Duan et al., 2016, tables 1 and 2) that are not learned:

- bandits (``metarl/BernoulliBandit-v0``, ``metarl/GaussianBandit-v0``; one episode is one pull,
  so the adaptation state carries the arm statistics across the episodes of a trial):
  ``ThompsonSamplingAgent``.

Every agent is batched over the ``n`` tasks of an evaluation with torch tensors (no loop over
tasks), keeps per-row state and leaves rows whose ``Transition.valid`` is False unchanged.
Randomness (posterior samples, tie-breaking) is part of these algorithms, so ``deterministic``
is ignored: the agents stay stochastic, drawing from their own generator seeded by ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from metarl.agent import Transition

BanditKind = Literal["bernoulli", "gaussian"]
BANDIT_KINDS: tuple[str, ...] = ("bernoulli", "gaussian")


# ----- sampling helpers --------------------------------------------------------------------------
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


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


# ----- bandits -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class ArmStats:
    """Per-task arm statistics, the adaptation state of the bandit agents.

    ``pulls`` and ``reward_sum`` are ``(n, k)`` float64: how often each arm was pulled in the
    trial so far and the sum of its rewards (for Bernoulli arms, its number of successes).
    """

    pulls: Tensor
    reward_sum: Tensor

    @property
    def total_pulls(self) -> Tensor:
        """``(n,)`` pulls so far in each task's trial."""
        return self.pulls.sum(dim=-1)


class BanditAgent:
    """Shared part of the bandit agents: arm statistics in, an arm per task out.

    Subclasses define ``scores(stats)``, an ``(n, k)`` tensor; ``act`` pulls the highest-scoring
    arm of each task (ties at random). Observations carry no information (a constant 0) and are
    only used for the batch size.
    """

    name = "bandit"

    def __init__(self, num_arms: int, seed: int = 0, device: str | torch.device = "cpu") -> None:
        if not isinstance(num_arms, int) or num_arms < 2:
            raise ValueError(f"num_arms must be an integer >= 2, got {num_arms!r}")
        self.num_arms = num_arms
        self.device = torch.device(device)
        self.generator = torch.Generator(self.device).manual_seed(int(seed))

    def begin_task(self, n_tasks: int) -> ArmStats:
        """No pulls yet in any of the ``n_tasks`` trials."""
        zeros = torch.zeros(n_tasks, self.num_arms, dtype=torch.float64, device=self.device)
        return ArmStats(zeros, zeros.clone())

    def scores(self, stats: ArmStats) -> Tensor:
        """``(n, k)`` arm scores; the arm with the highest score is pulled."""
        raise NotImplementedError

    def act(self, obs: Tensor, state: ArmStats, deterministic: bool) -> tuple[Tensor, ArmStats]:
        """An arm per task (int64 ``(n,)``); ``deterministic`` is ignored (see the module docstring)."""
        if obs.shape[0] != state.pulls.shape[0]:
            raise ValueError(f"got {obs.shape[0]} observations for a state of {state.pulls.shape[0]} tasks")
        return random_argmax(self.scores(state), self.generator), state

    def observe(self, state: ArmStats, transition: Transition) -> ArmStats:
        """Count the pull and its reward in every valid row."""
        valid = transition.valid.to(self.device)
        pulled = torch.nn.functional.one_hot(transition.action.to(self.device).long(), self.num_arms)
        pulled = pulled.to(torch.float64) * valid.unsqueeze(-1)
        reward = torch.where(valid, transition.reward.to(self.device, torch.float64), 0.0)
        return ArmStats(state.pulls + pulled, state.reward_sum + pulled * reward.unsqueeze(-1))

    def end_episode(self, state: ArmStats) -> ArmStats:
        """Nothing to do: an episode is one pull, the statistics already hold it."""
        return state


class ThompsonSamplingAgent(BanditAgent):
    """Thompson sampling (Thompson, 1933): pull the arm whose posterior sample is largest.

    ``kind="bernoulli"``: arm means have independent Beta(``prior_alpha``, ``prior_beta``)
    priors (default Beta(1, 1), the uniform distribution ``BernoulliBandit-v0`` draws them from);
    the posterior of an arm with ``s`` successes in ``m`` pulls is Beta(alpha + s, beta + m - s).
    ``kind="gaussian"``: arm means have N(``prior_mean``, ``prior_std``^2) priors (default N(0, 1),
    as ``GaussianBandit-v0``) and rewards known noise ``reward_std``; the posterior is Gaussian
    with precision ``1/prior_std^2 + m/reward_std^2``.
    """

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
            _check_positive(name, value)
        self.kind = kind
        self.prior_alpha, self.prior_beta = prior_alpha, prior_beta
        self.prior_mean, self.prior_std, self.reward_std = prior_mean, prior_std, reward_std
        self.name = "thompson"

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
