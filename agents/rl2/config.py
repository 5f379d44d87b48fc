"""RL^2's hyperparameters (``rl2:`` in a run config)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from metarl.common.checks import check
from metarl.common.ppo import PPOConfig
from metarl.common.training_env import TRAINING_TASK_SOURCES, TrainingTaskSource
from metarl.common.trpo import TRPOConfig


@dataclass
class RL2Config:
    """RL^2 hyperparameters. The network defaults are the paper's bandit/MDP policy (a GRU of
    256 units read by linear heads); ``ppo`` defaults to ``PPOConfig``'s, so each config states
    its discount and GAE lambda (the paper: 0.99 and 0.3 on bandits and MDPs)."""

    num_envs: int = 256  # tasks per iteration, one trial each, stepped together
    trial_episodes: int | None = None  # None: the family's trial_episodes
    task_source: TrainingTaskSource = "distribution"
    hidden_size: int = 256  # GRU units
    embedding_size: int | None = None  # a Linear+ReLU layer on the trial input before the GRU
    policy_layers: list[int] = field(default_factory=list)  # tanh layers between the GRU and each head
    init_log_std: float = 0.0  # Box actions: initial log standard deviation
    bptt_length: int | None = None  # None: backpropagate through whole trials
    normalize_rewards: bool = False  # scale rewards by the std of the discounted trial return
    ppo: PPOConfig = field(default_factory=PPOConfig)
    slow_learner: Literal["ppo", "trpo"] = "ppo"
    trpo: TRPOConfig = field(default_factory=TRPOConfig)  # used when slow_learner is trpo

    def __post_init__(self) -> None:
        for name in ("num_envs", "hidden_size"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        for name in ("trial_episodes", "embedding_size", "bptt_length"):
            value = getattr(self, name)
            check(value is None or value >= 1, name, value, "null or an integer >= 1")
        check(all(w >= 1 for w in self.policy_layers), "policy_layers", self.policy_layers, "a list of integers >= 1")
        allowed = ", ".join(map(repr, TRAINING_TASK_SOURCES))
        check(self.task_source in TRAINING_TASK_SOURCES, "task_source", self.task_source, allowed)
        check(self.slow_learner in ("ppo", "trpo"), "slow_learner", self.slow_learner, "'ppo' or 'trpo'")
        check(self.slow_learner == "ppo" or self.bptt_length is None, "bptt_length", self.bptt_length,
              "null with slow_learner trpo (its step takes whole trials)")  # fmt: skip
