"""PEARL's hyperparameters and the check that its collection phases cover whole episodes."""

from __future__ import annotations

from dataclasses import dataclass

from metarl.common.checks import check


@dataclass
class PEARLConfig:
    """PEARL hyperparameters; defaults are oyster's ``configs/default.py``."""

    latent_dim: int = 5
    hidden_size: int = 300
    encoder_hidden_size: int = 200
    policy_lr: float = 3e-4
    qf_lr: float = 3e-4
    vf_lr: float = 3e-4
    context_lr: float = 3e-4
    discount: float = 0.99
    tau: float = 0.005
    reward_scale: float = 5.0
    kl_lambda: float = 0.1
    meta_batch: int = 16
    batch_size: int = 256
    context_batch_size: int = 64
    tasks_per_iteration: int = 5
    envs_per_task: int = 1
    initial_steps: int = 2000
    prior_steps: int = 400
    posterior_steps: int = 0
    extra_posterior_steps: int = 400
    updates_per_iteration: int = 2000
    # oyster keeps 1e6 transitions per task; 1e5 holds everything the reference schedules give a task
    # when there are ~100 tasks, without preallocating tens of GB (2-task configs set 1e6).
    replay_capacity: int = 100_000
    use_next_obs_in_context: bool = False
    exploration_episodes: int = 1
    policy_mean_reg: float = 1e-3
    policy_std_reg: float = 1e-3

    def __post_init__(self) -> None:
        positive = ("latent_dim", "hidden_size", "encoder_hidden_size", "meta_batch", "batch_size",
                    "context_batch_size", "tasks_per_iteration", "envs_per_task", "updates_per_iteration",
                    "replay_capacity", "exploration_episodes", "policy_lr", "qf_lr", "vf_lr", "context_lr", "reward_scale")  # fmt: skip
        for name in positive:
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        for name in ("initial_steps", "prior_steps", "posterior_steps", "extra_posterior_steps", "kl_lambda"):
            check(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        check(0 <= self.discount <= 1, "discount", self.discount, "[0, 1]")
        check(0 < self.tau <= 1, "tau", self.tau, "(0, 1]")
        check(self.prior_steps + self.posterior_steps > 0, "prior_steps", self.prior_steps,
              "> 0 when posterior_steps is 0: the encoder needs context")  # fmt: skip


def check_whole_episodes(cfg: PEARLConfig, horizon: int | None) -> None:
    """Each collection phase must give every env a whole number of ``horizon``-step episodes, as
    oyster's sampler collects whole episodes: a split that cuts them (e.g. 400 steps over 5 envs of
    200-step episodes) would never collect the later part of an episode, nor end one. (Where
    episodes can end early, the last one of a phase may still be cut, as its steps run out.)"""
    if horizon is None:
        return
    whole = cfg.envs_per_task * horizon
    for name in ("initial_steps", "prior_steps", "posterior_steps", "extra_posterior_steps"):
        steps = getattr(cfg, name)
        if steps % whole:
            raise ValueError(
                f"pearl.{name}={steps} over envs_per_task={cfg.envs_per_task} envs is not whole episodes of "
                f"{horizon} steps; allowed: a multiple of {whole} (envs_per_task x episode length)"
            )
