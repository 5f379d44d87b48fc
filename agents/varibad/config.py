"""VariBAD's hyperparameters (``VariBADConfig``), validated on construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from metarl.common.checks import check
from metarl.common.ppo import PPOConfig
from metarl.common.training_env import TrainingTaskSource


def _repo_ppo() -> PPOConfig:
    """The PPO settings of VariBAD's MuJoCo configs (``args_cheetah_vel_varibad.py``)."""
    return PPOConfig(
        lr=7e-4, epochs=2, num_minibatches=8, clip=0.1, value_clip=0.1, value_loss="huber",
        value_coef=0.5, entropy_coef=0.01, max_grad_norm=0.5, gamma=0.97, gae_lambda=0.9,
    )  # fmt: skip


@dataclass
class VariBADConfig:
    """VariBAD hyperparameters. Defaults are the repo's ``args_cheetah_vel_varibad.py`` (names as
    the repo's flags, except where a comment says otherwise); ``configs/varibad/`` holds the
    other reference settings."""

    # --- trials and data collection
    num_envs: int = 16  # sub-envs stepped together (repo: num_processes)
    trial_episodes: int | None = None  # episodes per trial; None: the family's (repo: max_rollouts_per_task)
    trials_per_iteration: int = 1  # whole trials per sub-env between updates (repo: policy_num_steps)
    task_source: TrainingTaskSource = "distribution"
    precollect_len: int = 5000  # env steps collected before the first update
    # --- policy
    policy_layers: list[int] = field(default_factory=lambda: [128, 128])
    policy_activation: Literal["tanh", "relu", "leaky-relu"] = "tanh"  # repo: policy_activation_function
    policy_initialisation: Literal["normc", "orthogonal"] = "normc"
    policy_state_embedding_dim: int | None = 64  # None: the state enters the MLPs as it is
    policy_latent_embedding_dim: int | None = 64
    norm_state_for_policy: bool = True
    norm_latent_for_policy: bool = True
    norm_rew_for_policy: bool = True
    norm_actions_pre_sampling: bool = False  # tanh on the Gaussian mean (Box actions)
    policy_init_std: float = 1.0
    use_proper_time_limits: bool = True
    policy_anneal_lr: bool = False  # policy lr decays linearly to 0 over train.total_steps
    ppo: PPOConfig = field(default_factory=_repo_ppo)  # repo: lr_policy, ppo_*, policy_* (gamma, tau, ...)
    # --- VAE training
    lr_vae: float = 1e-3
    vae_buffer_size: int = 10_000  # trials (repo: size_vae_buffer)
    vae_buffer_add_thresh: float = 1.0  # probability that a collected batch of trials enters the buffer
    vae_batch_num_trajs: int = 10
    tbptt_stepsize: int | None = 50  # None: backpropagate through whole trials
    vae_subsample_elbos: int | None = 50  # None: every ELBO term
    vae_subsample_decodes: int | None = 50  # None: every timestep
    vae_avg_elbo_terms: bool = False
    vae_avg_reconstruction_terms: bool = False
    num_vae_updates: int = 1
    kl_weight: float = 0.1
    kl_to_gauss_prior: bool = False
    decode_only_past: bool = False
    encoder_max_grad_norm: float | None = 1.0
    decoder_max_grad_norm: float | None = 1.0
    rlloss_through_encoder: bool = False
    vae_loss_coeff: float = 1.0  # weight of the VAE loss in the joint loss of rlloss_through_encoder
    # --- encoder
    action_embedding_size: int = 16
    state_embedding_size: int = 32
    reward_embedding_size: int = 16
    encoder_layers_before_gru: list[int] = field(default_factory=list)
    encoder_gru_hidden_size: int = 128
    encoder_layers_after_gru: list[int] = field(default_factory=list)
    latent_dim: int = 5
    add_done_info: bool | None = None  # None: when a trial has more than one episode (repo's rule)
    # --- reward decoder
    decode_reward: bool = True
    rew_loss_coeff: float = 1.0
    input_prev_state: bool = True
    input_action: bool = True
    reward_decoder_layers: list[int] = field(default_factory=lambda: [64, 32])
    multihead_for_reward: bool = False
    rew_pred_type: Literal["bernoulli", "categorical", "deterministic"] = "deterministic"
    # --- state-transition decoder
    decode_state: bool = False
    state_loss_coeff: float = 1.0
    state_decoder_layers: list[int] = field(default_factory=lambda: [64, 32])
    state_pred_type: Literal["deterministic", "gaussian"] = "deterministic"
    # --- task decoder (the repo's "VariBAD oracle" variant)
    decode_task: bool = False
    task_loss_coeff: float = 1.0
    task_decoder_layers: list[int] = field(default_factory=lambda: [64, 32])
    task_pred_type: Literal["task_id", "task_description"] = "task_id"

    def __post_init__(self) -> None:
        positive = ("num_envs", "trials_per_iteration", "policy_init_std", "lr_vae", "vae_buffer_size",
                    "vae_batch_num_trajs", "num_vae_updates", "encoder_gru_hidden_size", "latent_dim")  # fmt: skip
        for name in positive:
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        for name in ("trial_episodes", "tbptt_stepsize", "vae_subsample_elbos", "vae_subsample_decodes",
                     "policy_state_embedding_dim", "policy_latent_embedding_dim", "encoder_max_grad_norm",
                     "decoder_max_grad_norm"):  # fmt: skip
            value = getattr(self, name)
            check(value is None or value > 0, name, value, "null or > 0")
        nonnegative = ("precollect_len", "kl_weight", "vae_loss_coeff", "action_embedding_size", "state_embedding_size",
                       "reward_embedding_size", "rew_loss_coeff", "state_loss_coeff", "task_loss_coeff")  # fmt: skip
        for name in nonnegative:
            check(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        check(0 <= self.vae_buffer_add_thresh <= 1, "vae_buffer_add_thresh", self.vae_buffer_add_thresh, "[0, 1]")
        check(self.vae_buffer_size >= self.num_envs, "vae_buffer_size", self.vae_buffer_size,
              f">= num_envs ({self.num_envs}): the buffer holds at least one batch of trials")  # fmt: skip
        check(bool(self.policy_layers), "policy_layers", self.policy_layers, "a non-empty list of layer widths")
        for name in ("policy_layers", "encoder_layers_before_gru", "encoder_layers_after_gru", "reward_decoder_layers",
                     "state_decoder_layers", "task_decoder_layers"):  # fmt: skip
            widths = getattr(self, name)
            check(all(w > 0 for w in widths), name, widths, "layer widths > 0")
        embedded = self.action_embedding_size + self.state_embedding_size + self.reward_embedding_size
        check(embedded > 0, "state_embedding_size", self.state_embedding_size,
              "> 0 when action_embedding_size and reward_embedding_size are 0: the encoder needs an input")  # fmt: skip
        check(self.decode_reward or self.decode_state or self.decode_task, "decode_reward", self.decode_reward,
              "true unless decode_state or decode_task is: the VAE needs a decoder")  # fmt: skip
        check(self.rew_pred_type != "categorical" or self.multihead_for_reward, "rew_pred_type", self.rew_pred_type,
              "'bernoulli' or 'deterministic' without multihead_for_reward ('categorical' is a softmax over heads)")  # fmt: skip
