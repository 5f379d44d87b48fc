"""The oracle's configuration: the conditioning, the batch, the networks and CleanRL's PPO defaults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from metarl.common.checks import check
from metarl.common.ppo import PPOConfig
from metarl.common.training_env import TrainingTaskSource

CONDITIONINGS = ("concat", "hypernetwork", "none")


@dataclass
class OraclePPOConfig(PPOConfig):
    """``PPOConfig`` with CleanRL's ``ppo_continuous_action`` defaults: 10 epochs, 32 minibatches,
    value clipping at 0.2 (lr 3e-4, clip 0.2, gamma 0.99, GAE 0.95, no entropy bonus as PPOConfig)."""

    epochs: int = 10
    num_minibatches: int = 32
    value_clip: float | None = 0.2


@dataclass
class OracleConfig:
    """Oracle / multi-task PPO hyperparameters; defaults are CleanRL's ``ppo_continuous_action`` but for
    the batch (``num_envs`` sub-envs x ``num_steps``, where CleanRL steps one env 2048 times)."""

    conditioning: Literal["concat", "hypernetwork", "none"] = "concat"
    normalize_task: bool = True  # scale task parameters to [-1, 1] by the task space's finite bounds
    task_source: TrainingTaskSource = "distribution"
    num_envs: int = 64
    num_steps: int | None = None  # steps per sub-env per rollout; None: the env's horizon
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    activation: Literal["tanh", "relu"] = "tanh"
    hyper_hidden: int = 64  # hypernetwork: width of the task-embedding MLP's hidden layer
    hyper_embed_dim: int = 32  # hypernetwork: size of the task embedding the layers are generated from
    init_log_std: float = 0.0
    normalize_obs: bool = True
    normalize_reward: bool = True
    clip_obs: float = 10.0
    clip_reward: float = 10.0
    anneal_lr: bool = True  # linear decay to 0 over train.total_steps
    adam_eps: float = 1e-5
    ppo: OraclePPOConfig = field(default_factory=OraclePPOConfig)

    def __post_init__(self) -> None:
        for name in ("num_envs", "hyper_hidden", "hyper_embed_dim"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        check(self.num_steps is None or self.num_steps >= 1, "num_steps", self.num_steps, "null or an integer >= 1")
        check(len(self.hidden_sizes) > 0 and all(h >= 1 for h in self.hidden_sizes), "hidden_sizes",
              self.hidden_sizes, "a non-empty list of integers >= 1")  # fmt: skip
        for name in ("clip_obs", "clip_reward", "adam_eps"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
