"""``metarl train`` for the classical agents: ``NoLearningTrainer`` (nothing to learn) and the
eight ``make_*_trainer`` factories, which read the family's sizes from its env and build the agent."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import torch
from metarl.agents.classical.bandit_indices import BANDIT_KINDS, GreedyAgent, ThompsonSamplingAgent, UCB1Agent
from metarl.agents.classical.bayes_optimal import BayesOptimalBernoulliAgent
from metarl.agents.classical.config import (
    BayesOptimalConfig,
    GittinsConfig,
    GreedyConfig,
    PSRLConfig,
    ThompsonConfig,
)
from metarl.agents.classical.gittins import GittinsIndexAgent
from metarl.agents.classical.tabular import MeanModelAgent, PSRLAgent, TabularPrior
from metarl.envs.bandits import BernoulliBanditEnv, GaussianBanditEnv
from metarl.envs.tabular_mdp import TabularMDPEnv

from metarl.common.config import RunConfig
from metarl.common.protocol import Agent, RandomAgent
from metarl.common.state import Checkpointable


class NoLearningTrainer(Checkpointable):
    """The ``metarl train`` trainer of an agent with nothing to learn.

    One ``train_iteration`` declares the step budget spent (``env_steps = total_steps``) without
    touching an environment, so the shared loop goes straight to its checkpoint and the
    adaptation-curve evaluation. The checkpoint holds only the step count.
    """

    #: The step count (the agent has no parameters).
    state_fields = {"env_steps": "env_steps"}

    def __init__(self, agent: Agent, total_steps: int) -> None:
        self.agent = agent
        self.total_steps = total_steps
        self.env_steps = 0
        self.episode_returns: list[float] = []

    def train_iteration(self) -> dict[str, float]:
        """Nothing to collect or update; no metrics."""
        self.env_steps = self.total_steps
        return {}


def _unwrapped_env(cfg: RunConfig) -> Any:
    """A single env of ``cfg.env`` to read the family's sizes from."""
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    env.close()
    return env.unwrapped


def _bandit(cfg: RunConfig, agent: str, kinds: tuple[str, ...] = BANDIT_KINDS) -> tuple[int, str, float]:
    """``(num_arms, kind, reward_std)`` of a bandit family; ``ValueError`` for any other env."""
    env = _unwrapped_env(cfg)
    kind = {BernoulliBanditEnv: "bernoulli", GaussianBanditEnv: "gaussian"}.get(type(env))
    if kind not in kinds:
        allowed = ", ".join(f"metarl/{k.capitalize()}Bandit-v0" for k in kinds)
        raise ValueError(f"agent {agent!r} needs a bandit family ({allowed}), got env.id={cfg.env.id!r}")
    return env.num_arms, kind, getattr(env.dynamics, "reward_std", 1.0)


def _tabular(cfg: RunConfig, agent: str) -> tuple[int, int, int]:
    """``(num_states, num_actions, horizon)`` of ``TabularMDP-v0``; ``ValueError`` otherwise."""
    env = _unwrapped_env(cfg)
    if not isinstance(env, TabularMDPEnv):
        raise ValueError(f"agent {agent!r} needs metarl/TabularMDP-v0, got env.id={cfg.env.id!r}")
    return env.num_states, env.num_actions, gym.spec(cfg.env.id).max_episode_steps


def make_thompson_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Thompson sampling on a Bernoulli or Gaussian bandit family."""
    num_arms, kind, reward_std = _bandit(cfg, "thompson")
    c: ThompsonConfig = cfg.agent_config
    agent = ThompsonSamplingAgent(
        num_arms, kind, cfg.seed, device, prior_alpha=c.prior_alpha, prior_beta=c.prior_beta,
        prior_mean=c.prior_mean, prior_std=c.prior_std, reward_std=reward_std,
    )  # fmt: skip
    return NoLearningTrainer(agent, cfg.train.total_steps)


def make_ucb1_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """UCB1 on a bandit family."""
    num_arms, _, _ = _bandit(cfg, "ucb1")
    return NoLearningTrainer(UCB1Agent(num_arms, cfg.seed, device, c=cfg.agent_config.c), cfg.train.total_steps)


def make_greedy_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Greedy / epsilon-greedy: empirical means on a bandit, the posterior mean MDP on TabularMDP-v0."""
    c: GreedyConfig = cfg.agent_config
    if isinstance(_unwrapped_env(cfg), TabularMDPEnv):
        agent: Agent = MeanModelAgent(*_tabular(cfg, "greedy"), cfg.seed, device, epsilon=c.epsilon)
    else:
        num_arms = _bandit(cfg, "greedy")[0]
        prior = {"prior_mean": c.prior_mean, "prior_pulls": c.prior_pulls}
        agent = GreedyAgent(num_arms, cfg.seed, device, epsilon=c.epsilon, **prior)
    return NoLearningTrainer(agent, cfg.train.total_steps)


def make_gittins_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Finite-horizon Gittins index on BernoulliBandit-v0."""
    num_arms, _, _ = _bandit(cfg, "gittins", ("bernoulli",))
    c: GittinsConfig = cfg.agent_config
    horizon = c.horizon or cfg.eval.episodes
    return NoLearningTrainer(GittinsIndexAgent(num_arms, horizon, cfg.seed, device, grid=c.grid), cfg.train.total_steps)


def make_bayes_optimal_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Exact Bayes-optimal policy on BernoulliBandit-v0."""
    num_arms, _, _ = _bandit(cfg, "bayes_optimal", ("bernoulli",))
    c: BayesOptimalConfig = cfg.agent_config
    horizon = c.horizon or cfg.eval.episodes
    agent = BayesOptimalBernoulliAgent(num_arms, horizon, cfg.seed, device, max_states=c.max_states)
    return NoLearningTrainer(agent, cfg.train.total_steps)


def make_psrl_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """PSRL on TabularMDP-v0."""
    c: PSRLConfig = cfg.agent_config
    prior = TabularPrior(c.transition_alpha, c.reward_mean, c.reward_std, c.noise_std)
    return NoLearningTrainer(PSRLAgent(*_tabular(cfg, "psrl"), cfg.seed, device, prior=prior), cfg.train.total_steps)


def make_beb_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """BEB on TabularMDP-v0."""
    agent = MeanModelAgent(*_tabular(cfg, "beb"), cfg.seed, device, bonus=cfg.agent_config.bonus)
    return NoLearningTrainer(agent, cfg.train.total_steps)


def make_random_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Uniformly random actions on any family."""
    agent = RandomAgent(_unwrapped_env(cfg).action_space, cfg.seed, device)
    return NoLearningTrainer(agent, cfg.train.total_steps)
