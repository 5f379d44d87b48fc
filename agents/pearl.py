"""PEARL: probabilistic latent context encoder + SAC (Rakelly et al., 2019).

"Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic Context Variables", following
the reference implementation (katerakelly/oyster) in every algorithmic detail:

- context: transitions ``(s, a, r)`` (``+ s'`` with ``use_next_obs_in_context``); a
  permutation-invariant encoder maps each to a Gaussian factor ``N(mu_i, sigma_i^2)``; the posterior
  ``q(z | c)`` is their product; ``kl_lambda * KL(q(z|c) || N(0, I))`` regularises it;
- SAC with twin Q-functions and a state-value function with a target copy, all conditioned on z;
  fixed entropy weight 1 with ``reward_scale``; policy mean/log-std L2 regularisers;
- the encoder is trained through the Q loss (policy and value function see ``z.detach()``);
- the encoder's context is sampled from recently collected data: its buffer for a task is emptied
  before each collection on that task, and only prior (and posterior) steps enter it, not the
  extra posterior steps used for RL alone;
- meta-test posterior sampling: the first episode (``exploration_episodes``) acts with z from the
  prior, each later episode with z sampled from the posterior of all context gathered so far.

Everything is batched over tasks on the configured device: data collection steps all sampled
tasks' sub-envs together, and an update processes the whole meta-batch of tasks at once.
Policies act in [-1, 1]^d; actions are rescaled to the env's bounds (as oyster's NormalizedBoxEnv).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from metarl.common.checks import check
from metarl.common.config import RunConfig
from metarl.common.ensemble import EnsembleMLP
from metarl.common.protocol import Transition
from metarl.common.replay import MultiTaskReplay
from metarl.common.training_env import make_training_env
from metarl.core.tasks import Task

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


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


# ----- networks ----------------------------------------------------------------------------------
def mlp(inputs: int, hidden: int, outputs: int, layers: int = 3) -> nn.Sequential:
    """``layers`` hidden ReLU layers of width ``hidden``."""
    dims = [inputs] + [hidden] * layers
    body = [m for a, b in zip(dims, dims[1:]) for m in (nn.Linear(a, b), nn.ReLU())]
    return nn.Sequential(*body, nn.Linear(dims[-1], outputs))


class ContextEncoder(nn.Module):
    """Maps each context transition to a Gaussian factor; the posterior is their product."""

    def __init__(self, context_dim: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.net = mlp(context_dim, hidden, 2 * latent_dim)

    def posterior(self, context: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Mean and variance ``(B, latent)`` of q(z | context ``(B, T, d)``); rows where ``mask``
        ``(B, T)`` is False are ignored, and a task with no context gets the prior N(0, I)."""
        params = self.net(context)
        mu, var = params[..., : self.latent_dim], F.softplus(params[..., self.latent_dim :]).clamp(min=1e-7)
        precision = 1.0 / var
        if mask is not None:
            precision = precision * mask[..., None]
        total = precision.sum(1)
        empty = total <= 0
        post_var = 1.0 / torch.where(empty, torch.ones_like(total), total)
        post_mu = post_var * (mu * precision).sum(1)
        return torch.where(empty, 0.0, post_mu), torch.where(empty, 1.0, post_var)


def kl_to_prior(mu: Tensor, var: Tensor) -> Tensor:
    """Sum over tasks and latent dims of KL(N(mu, var) || N(0, 1)) (as oyster's compute_kl_div)."""
    return 0.5 * (var + mu.square() - 1.0 - var.log()).sum()


class TanhGaussianPolicy(nn.Module):
    """pi(a | s, z): a Gaussian squashed by tanh into [-1, 1]^d."""

    def __init__(self, obs_dim: int, latent_dim: int, action_dim: int, hidden: int) -> None:
        super().__init__()
        self.net = mlp(obs_dim + latent_dim, hidden, 2 * action_dim)
        self.action_dim = action_dim

    def forward(self, obs: Tensor, z: Tensor, deterministic: bool = False, generator: torch.Generator | None = None):
        """Action, log-probability, pre-tanh mean and log-std."""
        mean, log_std = self.net(torch.cat([obs, z], -1)).chunk(2, -1)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        if deterministic:
            return torch.tanh(mean), None, mean, log_std
        std = log_std.exp()
        noise = torch.randn(mean.shape, generator=generator, device=mean.device) if generator else torch.randn_like(mean)
        pre_tanh = mean + std * noise
        action = torch.tanh(pre_tanh)
        log_prob = (-0.5 * noise.square() - log_std - 0.5 * math.log(2 * math.pi)).sum(-1)
        log_prob = log_prob - torch.log1p(-action.square() + 1e-6).sum(-1)
        return action, log_prob, mean, log_std


@dataclass
class PEARLState:
    """Meta-test state of a batch of tasks: the context gathered so far and the current z."""

    z: Tensor
    context: list[Tensor] = field(default_factory=list)
    mask: list[Tensor] = field(default_factory=list)
    episodes: int = 0


class PEARLAgent(nn.Module):
    """PEARL's networks and its adaptation interface (``begin_task``/``act``/``observe``/``end_episode``)."""

    name = "pearl"

    def __init__(self, cfg: PEARLConfig, obs_dim: int, action_space: gym.spaces.Box, device: torch.device) -> None:
        super().__init__()
        self.cfg = cfg
        action_dim = int(np.prod(action_space.shape))
        self.obs_dim, self.action_dim = obs_dim, action_dim
        self.context_dim = obs_dim + action_dim + 1 + (obs_dim if cfg.use_next_obs_in_context else 0)
        self.encoder = ContextEncoder(self.context_dim, cfg.encoder_hidden_size, cfg.latent_dim)
        self.policy = TanhGaussianPolicy(obs_dim, cfg.latent_dim, action_dim, cfg.hidden_size)
        q_in, v_in = obs_dim + action_dim + cfg.latent_dim, obs_dim + cfg.latent_dim
        # The twin Q-functions as one batched ensemble, initialised as two separate MLPs would be.
        self.qf = EnsembleMLP.from_mlps([mlp(q_in, cfg.hidden_size, 1), mlp(q_in, cfg.hidden_size, 1)])
        self.vf, self.target_vf = mlp(v_in, cfg.hidden_size, 1), mlp(v_in, cfg.hidden_size, 1)
        self.target_vf.load_state_dict(self.vf.state_dict())
        self.register_buffer("action_low", torch.as_tensor(action_space.low, dtype=torch.float32))
        self.register_buffer("action_high", torch.as_tensor(action_space.high, dtype=torch.float32))
        self.to(device)
        self.device = device
        self.generator = torch.Generator(device).manual_seed(0)

    # ----- helpers shared by training and meta-test ------------------------------------------------
    def to_env_action(self, action: Tensor) -> Tensor:
        """[-1, 1] policy actions to the env's bounds."""
        return self.action_low + (action + 1.0) * 0.5 * (self.action_high - self.action_low)

    def to_policy_action(self, action: Tensor) -> Tensor:
        """Env actions back to [-1, 1]."""
        return 2.0 * (action - self.action_low) / (self.action_high - self.action_low) - 1.0

    def context_rows(self, obs: Tensor, action: Tensor, reward: Tensor, next_obs: Tensor) -> Tensor:
        """Context entries ``(..., context_dim)`` from transitions (actions in [-1, 1])."""
        parts = [obs, action, reward[..., None]] + ([next_obs] if self.cfg.use_next_obs_in_context else [])
        return torch.cat(parts, -1)

    def sample_z(self, mu: Tensor, var: Tensor) -> Tensor:
        """One z per task from N(mu, var), from the agent's generator."""
        return mu + var.sqrt() * torch.randn(mu.shape, generator=self.generator, device=mu.device)

    def prior_z(self, n: int) -> Tensor:
        """z ~ N(0, I) for ``n`` tasks."""
        zeros = torch.zeros(n, self.cfg.latent_dim, device=self.device)
        return self.sample_z(zeros, torch.ones_like(zeros))

    # ----- adaptation interface ------------------------------------------------------------------
    def begin_task(self, n_tasks: int) -> PEARLState:
        """Empty context; z from the prior for the first episode."""
        return PEARLState(z=self.prior_z(n_tasks))

    @torch.no_grad()
    def act(self, obs: Tensor, state: PEARLState, deterministic: bool = True) -> tuple[Tensor, PEARLState]:
        """Actions of the z-conditioned policy, in the env's bounds."""
        action, *_ = self.policy(obs.to(self.device, torch.float32), state.z, deterministic, self.generator)
        return self.to_env_action(action), state

    @torch.no_grad()
    def observe(self, state: PEARLState, transition: Transition) -> PEARLState:
        """Add the step's transitions to each task's context (rows with ``valid`` False are masked)."""
        f32 = {k: getattr(transition, k).to(self.device, torch.float32) for k in ("obs", "action", "reward", "next_obs")}
        rows = self.context_rows(f32["obs"], self.to_policy_action(f32["action"]), f32["reward"], f32["next_obs"])
        state.context.append(rows)
        state.mask.append(transition.valid.to(self.device))
        return state

    @torch.no_grad()
    def end_episode(self, state: PEARLState) -> PEARLState:
        """Posterior sampling: z for the next episode from q(z | all context so far), once
        ``exploration_episodes`` episodes have been played with the prior z (oyster's
        ``num_exp_traj_eval``)."""
        state.episodes += 1
        if state.episodes >= self.cfg.exploration_episodes and state.context:
            mu, var = self.encoder.posterior(torch.stack(state.context, 1), torch.stack(state.mask, 1).float())
            state.z = self.sample_z(mu, var)
        return state


class PEARLLearner:
    """PEARL's training: batched data collection on the training tasks and SAC/encoder updates."""

    def __init__(
        self, cfg: PEARLConfig, env: Any, train_tasks: list[Task], device: torch.device, seed: int,
        make_initial_env: Callable[[], Any],
    ) -> None:
        """``env`` has ``tasks_per_iteration * envs_per_task`` sub-envs. ``make_initial_env()``
        makes the env of the first iteration's ``initial_steps`` on every training task, with
        ``len(train_tasks) * envs_per_task`` sub-envs; it is called only then (not on resume)."""
        self.cfg, self.env, self.device = cfg, env, device
        self.make_initial_env = make_initial_env
        self.train_tasks = train_tasks
        obs_dim = int(np.prod(env.single_observation_space.shape))
        self.agent = PEARLAgent(cfg, obs_dim, env.single_action_space, device)
        self.agent.generator.manual_seed(seed)
        self.generator = torch.Generator(device).manual_seed(seed + 1)
        a = self.agent
        self.optimizers = {
            "policy": torch.optim.Adam(a.policy.parameters(), lr=cfg.policy_lr, foreach=True),
            "qf": torch.optim.Adam(a.qf.parameters(), lr=cfg.qf_lr, foreach=True),
            "vf": torch.optim.Adam(a.vf.parameters(), lr=cfg.vf_lr, foreach=True),
            "context": torch.optim.Adam(a.encoder.parameters(), lr=cfg.context_lr, foreach=True),
        }
        n = len(train_tasks)
        self.replay = MultiTaskReplay(n, cfg.replay_capacity, obs_dim, a.action_dim, device)
        self.encoder_replay = MultiTaskReplay(n, cfg.replay_capacity, obs_dim, a.action_dim, device)
        self.env_steps = 0
        self.updates = 0
        self.iterations = 0
        self.episode_returns: list[float] = []

    # ----- data collection ---------------------------------------------------------------------
    def collect(self, env: Any, task_ids: Tensor, steps_per_task: int, z_source: str, to_encoder: bool) -> None:
        """Run ``steps_per_task`` steps on each task of ``task_ids``, all tasks together in ``env``.

        ``z_source`` is ``"prior"`` or ``"posterior"`` (z from context sampled from the task's
        encoder buffer); z is resampled at the start of every episode, as oyster with
        ``update_post_train=1``.
        """
        cfg = self.cfg
        env_tasks = task_ids.repeat_interleave(cfg.envs_per_task)
        if len(env_tasks) != env.num_envs:
            raise ValueError(f"{len(task_ids)} tasks x {cfg.envs_per_task} envs per task != env.num_envs {env.num_envs}")
        env.set_tasks([self.train_tasks[i] for i in env_tasks.tolist()])
        obs, _ = env.reset(seed=int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator, device=self.device)))
        obs = obs.to(self.device, torch.float32)
        z = self._fresh_z(env_tasks, z_source)
        running_return = torch.zeros(env.num_envs, device=self.device)
        for _ in range(math.ceil(steps_per_task / cfg.envs_per_task)):
            with torch.no_grad():
                action, *_ = self.agent.policy(obs, z, False, self.generator)
            next_obs, reward, terminated, truncated, info = env.step(self.agent.to_env_action(action))
            next_obs, reward = next_obs.to(self.device, torch.float32), reward.to(self.device, torch.float32)
            done = (terminated | truncated).to(self.device)
            final_obs = torch.where(done[:, None], info["final_obs"].to(self.device, torch.float32), next_obs) if "final_obs" in info else next_obs
            transition = dict(obs=obs, action=action, reward=reward, next_obs=final_obs, terminated=terminated.to(self.device).float())
            self.replay.add(env_tasks, **transition)
            if to_encoder:
                self.encoder_replay.add(env_tasks, **transition)
            running_return += reward
            if bool(done.any()):
                self.episode_returns.extend(running_return[done].tolist())
                running_return[done] = 0.0
                z = torch.where(done[:, None], self._fresh_z(env_tasks, z_source), z)
            obs = next_obs
            self.env_steps += env.num_envs

    def _fresh_z(self, env_tasks: Tensor, z_source: str) -> Tensor:
        if z_source == "prior":
            return self.agent.prior_z(len(env_tasks))
        with torch.no_grad():
            mu, var = self.agent.encoder.posterior(self._context(env_tasks))
        return self.agent.sample_z(mu, var)

    def _context(self, task_ids: Tensor) -> Tensor:
        batch = self.encoder_replay.sample(task_ids, self.cfg.context_batch_size, self.generator)
        return self.agent.context_rows(batch["obs"], batch["action"], batch["reward"], batch["next_obs"])

    def collect_iteration(self, first: bool) -> None:
        """oyster's per-iteration collection: on the first iteration ``initial_steps`` with the prior
        on every training task; then ``tasks_per_iteration`` random tasks with fresh encoder data."""
        cfg, n, env = self.cfg, len(self.train_tasks), self.env
        chunk = cfg.tasks_per_iteration
        if first and cfg.initial_steps > 0:
            initial_env = self.make_initial_env()
            self.collect(initial_env, torch.arange(n, device=self.device), cfg.initial_steps, "prior", to_encoder=True)
            initial_env.close()
        ids = torch.randint(0, n, (chunk,), generator=self.generator, device=self.device)
        self.encoder_replay.clear(ids)
        if cfg.prior_steps > 0:
            self.collect(env, ids, cfg.prior_steps, "prior", to_encoder=True)
        if cfg.posterior_steps > 0:
            self.collect(env, ids, cfg.posterior_steps, "posterior", to_encoder=True)
        if cfg.extra_posterior_steps > 0:
            self.collect(env, ids, cfg.extra_posterior_steps, "posterior", to_encoder=False)

    def train_iteration(self) -> dict[str, float]:
        """One PEARL iteration: collection on sampled training tasks, then the meta-updates."""
        self.collect_iteration(first=self.iterations == 0)
        metrics: dict[str, float] = {}
        for _ in range(self.cfg.updates_per_iteration):
            metrics = self.update()
        self.iterations += 1
        return metrics

    # ----- updates ---------------------------------------------------------------------------------
    def update(self) -> dict[str, float]:
        """One meta-gradient step on a meta-batch of training tasks (oyster's ``_take_step``)."""
        cfg, a = self.cfg, self.agent
        ids = torch.randint(0, len(self.train_tasks), (cfg.meta_batch,), generator=self.generator, device=self.device)
        context = self._context(ids)
        batch = {k: v.flatten(0, 1) for k, v in self.replay.sample(ids, cfg.batch_size, self.generator).items()}
        obs, action, next_obs = batch["obs"], batch["action"], batch["next_obs"]

        mu, var = a.encoder.posterior(context)
        z_task = mu + var.sqrt() * torch.randn(mu.shape, generator=self.generator, device=self.device)
        z = z_task.repeat_interleave(cfg.batch_size, 0)
        z_detached = z.detach()

        kl_loss = cfg.kl_lambda * kl_to_prior(mu, var)
        q1, q2 = a.qf(torch.cat([obs, action, z], -1)).squeeze(-1)
        with torch.no_grad():
            target_v = a.target_vf(torch.cat([next_obs, z], -1)).squeeze(-1)
            q_target = cfg.reward_scale * batch["reward"] + (1.0 - batch["terminated"]) * cfg.discount * target_v
        qf_loss = F.mse_loss(q1, q_target) + F.mse_loss(q2, q_target)
        self.optimizers["context"].zero_grad()
        self.optimizers["qf"].zero_grad()
        (kl_loss + qf_loss).backward()  # the encoder learns from the KL and the critic only
        self.optimizers["qf"].step()
        self.optimizers["context"].step()

        new_action, log_pi, mean, log_std = a.policy(obs, z_detached, False, self.generator)
        # The policy loss differentiates through Q's input only: Q's weights are frozen for it.
        min_q = a.qf(torch.cat([obs, new_action, z_detached], -1), frozen=True).min(0).values.squeeze(-1)
        v_pred = a.vf(torch.cat([obs, z_detached], -1)).squeeze(-1)
        vf_loss = F.mse_loss(v_pred, (min_q - log_pi).detach())
        self.optimizers["vf"].zero_grad()
        vf_loss.backward()
        self.optimizers["vf"].step()
        with torch.no_grad():
            for p, tp in zip(a.vf.parameters(), a.target_vf.parameters()):
                tp.lerp_(p, cfg.tau)

        policy_loss = (log_pi - min_q).mean()
        policy_loss = policy_loss + cfg.policy_mean_reg * mean.square().mean() + cfg.policy_std_reg * log_std.square().mean()
        self.optimizers["policy"].zero_grad()
        policy_loss.backward()
        self.optimizers["policy"].step()
        self.updates += 1
        return {
            "losses/qf_loss": qf_loss.item(),
            "losses/vf_loss": vf_loss.item(),
            "losses/policy_loss": policy_loss.item(),
            "losses/kl_loss": kl_loss.item(),
            "charts/z_variance": var.mean().item(),
        }

    # ----- checkpointing ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizers, replay buffers, RNG streams and counters."""
        return {
            "agent": self.agent.state_dict(),
            "optimizers": {k: o.state_dict() for k, o in self.optimizers.items()},
            "replay": self.replay.state_dict(),
            "encoder_replay": self.encoder_replay.state_dict(),
            "generators": {"agent": self.agent.generator.get_state(), "learner": self.generator.get_state()},
            "env_steps": self.env_steps,
            "updates": self.updates,
            "iterations": self.iterations,
            "episode_returns": self.episode_returns[-1000:],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore everything ``state_dict`` saved (checkpoints with separate ``qf1``/``qf2`` are
        converted to the ensemble)."""
        if "qf1.0.weight" in state["agent"]:
            state = _twin_q_as_ensemble(state)
        self.agent.load_state_dict(state["agent"])
        for k, o in self.optimizers.items():
            o.load_state_dict(state["optimizers"][k])
        self.replay.load_state_dict(state["replay"])
        self.encoder_replay.load_state_dict(state["encoder_replay"])
        self.agent.generator.set_state(state["generators"]["agent"])
        self.generator.set_state(state["generators"]["learner"])
        self.env_steps, self.updates, self.iterations = state["env_steps"], state["updates"], state["iterations"]
        self.episode_returns = list(state["episode_returns"])


def _twin_q_as_ensemble(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint of metarl before the twin Q-functions became one ensemble, converted: weights
    and their Adam moments stacked member by member (``nn.Linear``'s ``(out, in)`` transposed)."""
    agent = {k: v for k, v in state["agent"].items() if not k.startswith(("qf1.", "qf2."))}
    layers = sorted({int(k.split(".")[1]) for k in state["agent"] if k.startswith("qf1.")})
    old = state["optimizers"]["qf"]
    moments, per_member = {}, 2 * len(layers)  # old Adam order: qf1's (weight, bias) per layer, then qf2's
    for i, layer in enumerate(layers):
        for j, kind in enumerate(("weight", "bias")):
            members = [state["agent"][f"qf{m}.{layer}.{kind}"] for m in (1, 2)]
            shape = (lambda t: t.T) if kind == "weight" else (lambda t: t[None])
            agent[f"qf.layers.{i}.{kind}"] = torch.stack([shape(t) for t in members])
            olds = [old["state"].get(m * per_member + 2 * i + j) for m in (0, 1)]
            if all(o is not None for o in olds):
                moments[2 * i + j] = {
                    "step": olds[0]["step"],
                    **{k: torch.stack([shape(o[k]) for o in olds]) for k in ("exp_avg", "exp_avg_sq")},
                }
    groups = [{**old["param_groups"][0], "params": list(range(per_member))}]
    optimizers = {**state["optimizers"], "qf": {"state": moments, "param_groups": groups}}
    return {**state, "agent": agent, "optimizers": optimizers}


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


def make_pearl_trainer(cfg: RunConfig, device: torch.device) -> PEARLLearner:
    """PEARL on ``cfg.env``: a batched env with one sub-env group per task collected together."""
    pearl: PEARLConfig = cfg.agent_config
    env = make_training_env(cfg, pearl.tasks_per_iteration * pearl.envs_per_task, device)
    if not isinstance(env.single_action_space, gym.spaces.Box):
        raise ValueError(f"PEARL needs a continuous (Box) action space; {cfg.env.id} has {env.single_action_space}")
    check_whole_episodes(pearl, env.max_episode_steps)
    train_tasks = env.task_set("train")

    def make_initial_env() -> Any:
        # The initial collection visits every training task: one batched pass, no loop over tasks.
        return make_training_env(cfg, len(train_tasks) * pearl.envs_per_task, device)

    return PEARLLearner(pearl, env, train_tasks, device, cfg.seed, make_initial_env)
