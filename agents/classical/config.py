"""The config sections of the eight classical agents for ``metarl train`` (``thompson.prior_alpha``,
``beb.bonus``, ...); they only describe the algorithms, there is nothing to train."""

from __future__ import annotations

from dataclasses import dataclass

from metarl.agents.classical.bayes_optimal import MAX_BELIEF_STATES

from metarl.common.checks import check


@dataclass
class ThompsonConfig:
    """Thompson sampling's priors: Beta for Bernoulli arms, Gaussian for Gaussian arms (whose
    reward noise is read from the env); defaults are the families' task distributions."""

    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    prior_mean: float = 0.0
    prior_std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("prior_alpha", "prior_beta", "prior_std"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")


@dataclass
class UCB1Config:
    """UCB1's exploration constant ``c`` in ``sqrt(c ln t / n_j)`` (Auer et al.: 2)."""

    c: float = 2.0

    def __post_init__(self) -> None:
        check(self.c > 0, "c", self.c, "> 0")


@dataclass
class GreedyConfig:
    """Greedy (``epsilon = 0``) or epsilon-greedy. Bandits: ``GreedyAgent``'s estimate, the
    empirical mean unless ``prior_pulls > 0`` pseudo-pulls of reward ``prior_mean`` are added;
    tabular MDPs: the posterior mean MDP (``MeanModelAgent``; the prior fields are unused)."""

    epsilon: float = 0.0
    prior_mean: float = 0.0
    prior_pulls: float = 0.0

    def __post_init__(self) -> None:
        check(0.0 <= self.epsilon <= 1.0, "epsilon", self.epsilon, "a number in [0, 1]")
        check(self.prior_pulls >= 0.0, "prior_pulls", self.prior_pulls, ">= 0")


@dataclass
class GittinsConfig:
    """Finite-horizon Gittins index; ``horizon`` (pulls per trial) defaults to ``eval.episodes``."""

    horizon: int | None = None
    grid: int = 128

    def __post_init__(self) -> None:
        check(self.horizon is None or self.horizon >= 1, "horizon", self.horizon, "null or an integer >= 1")
        check(self.grid >= 2, "grid", self.grid, "an integer >= 2")


@dataclass
class BayesOptimalConfig:
    """Exact Bayes-optimal DP; ``horizon`` (pulls per trial) defaults to ``eval.episodes``."""

    horizon: int | None = None
    max_states: int = MAX_BELIEF_STATES

    def __post_init__(self) -> None:
        check(self.horizon is None or self.horizon >= 1, "horizon", self.horizon, "null or an integer >= 1")
        check(self.max_states >= 1, "max_states", self.max_states, "an integer >= 1")


@dataclass
class PSRLConfig:
    """PSRL's conjugate prior (``TabularPrior``); defaults are ``TabularMDP-v0``'s task distribution."""

    transition_alpha: float = 1.0
    reward_mean: float = 1.0
    reward_std: float = 1.0
    noise_std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("transition_alpha", "reward_std", "noise_std"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")


@dataclass
class BEBConfig:
    """BEB's exploration bonus ``bonus / (1 + n(s, a))`` on the posterior mean MDP."""

    bonus: float = 1.0

    def __post_init__(self) -> None:
        check(self.bonus > 0, "bonus", self.bonus, "> 0")


@dataclass
class RandomConfig:
    """Uniformly random actions: nothing to configure."""

