"""Classical reference agents for the RL^2 families, driven through the adaptation interface.

The rows of the RL^2 paper's tables (Duan et al., 2016, tables 1 and 2) that are not learned:

- bandits (``metarl/BernoulliBandit-v0``, ``metarl/GaussianBandit-v0``; one episode is one pull,
  so the adaptation state carries the arm statistics across the episodes of a trial):
  ``ThompsonSamplingAgent``, ``UCB1Agent``, ``GreedyAgent`` (greedy and epsilon-greedy on the
  empirical or the posterior mean; ``bandit_indices``), and for Bernoulli arms with a known
  horizon ``GittinsIndexAgent`` (the finite-horizon Gittins index; ``gittins``) and
  ``BayesOptimalBernoulliAgent`` (exact dynamic programming over posterior counts, for horizons
  whose belief space is small enough, e.g. 10 pulls; ``bayes_optimal``). Their shared base and
  state (``BanditAgent``, ``ArmStats``) are in ``agent``;
- tabular MDPs (``metarl/TabularMDP-v0``; ``tabular``): ``PSRLAgent`` (posterior sampling),
  ``MeanModelAgent`` (greedy / epsilon-greedy certainty equivalence and BEB's exploration
  bonus), and ``metarl.common.protocol.RandomAgent``.

Every agent is batched over the ``n`` tasks of an evaluation with torch tensors (no loop over
tasks), keeps per-row state and leaves rows whose ``Transition.valid`` is False unchanged.
Randomness (posterior samples, epsilon-exploration, tie-breaking; ``sampling``) is part of these
algorithms, so ``deterministic`` is ignored: the agents stay stochastic, drawing from their own
generator seeded by ``seed``.

``metarl train configs/classical/<x>.yaml`` runs them like the learned agents: their configs are
in ``config``, their trainer (``NoLearningTrainer``, ``learner``) has nothing to learn, so the
run directory holds the config, a checkpoint and the adaptation-curve evaluation.
"""

from metarl.agents.classical.agent import ArmStats, BanditAgent
from metarl.agents.classical.bandit_indices import GreedyAgent, ThompsonSamplingAgent, UCB1Agent
from metarl.agents.classical.bayes_optimal import BayesOptimalBernoulliAgent, BeliefTable, bayes_optimal_table
from metarl.agents.classical.config import (
    BayesOptimalConfig,
    BEBConfig,
    GittinsConfig,
    GreedyConfig,
    PSRLConfig,
    RandomConfig,
    ThompsonConfig,
    UCB1Config,
)
from metarl.agents.classical.gittins import GittinsIndexAgent, finite_horizon_gittins_table, gittins_offsets
from metarl.agents.classical.learner import (
    NoLearningTrainer,
    make_bayes_optimal_trainer,
    make_beb_trainer,
    make_gittins_trainer,
    make_greedy_trainer,
    make_psrl_trainer,
    make_random_trainer,
    make_thompson_trainer,
    make_ucb1_trainer,
)
from metarl.agents.classical.sampling import sample_beta, sample_gamma
from metarl.agents.classical.tabular import MeanModelAgent, PSRLAgent, TabularModelAgent, TabularPrior

__all__ = [
    "ArmStats",
    "BEBConfig",
    "BanditAgent",
    "BayesOptimalBernoulliAgent",
    "BayesOptimalConfig",
    "BeliefTable",
    "GittinsConfig",
    "GittinsIndexAgent",
    "GreedyAgent",
    "GreedyConfig",
    "MeanModelAgent",
    "NoLearningTrainer",
    "PSRLAgent",
    "PSRLConfig",
    "RandomConfig",
    "TabularModelAgent",
    "TabularPrior",
    "ThompsonConfig",
    "ThompsonSamplingAgent",
    "UCB1Agent",
    "UCB1Config",
    "bayes_optimal_table",
    "finite_horizon_gittins_table",
    "gittins_offsets",
    "make_bayes_optimal_trainer",
    "make_beb_trainer",
    "make_gittins_trainer",
    "make_greedy_trainer",
    "make_psrl_trainer",
    "make_random_trainer",
    "make_thompson_trainer",
    "make_ucb1_trainer",
    "sample_beta",
    "sample_gamma",
]
