"""PEARL's training: batched data collection on the training tasks, the SAC/encoder update,
checkpointing (with the conversion of checkpoints from before the twin-Q ensemble) and the
trainer factory."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
import torch.nn.functional as F
from metarl.agents.pearl.agent import PEARLAgent
from metarl.agents.pearl.config import PEARLConfig, check_whole_episodes
from metarl.agents.pearl.networks import kl_to_prior
from torch import Tensor

from metarl.common.config import RunConfig
from metarl.common.replay import MultiTaskReplay
from metarl.common.state import Checkpointable
from metarl.common.training_env import make_training_env
from metarl.common.trials import draw_seed, trial_steps
from metarl.core.tasks import TaskBatch


class PEARLLearner(Checkpointable):
    """PEARL's training: batched data collection on the training tasks and SAC/encoder updates."""

    #: Networks, optimizers, replay buffers, RNG streams and counters.
    state_fields = {
        "agent": "agent",
        "optimizers": "optimizers",
        "replay": "replay",
        "encoder_replay": "encoder_replay",
        "generators/agent": "agent.generator",
        "generators/learner": "generator",
        "env_steps": "env_steps",
        "updates": "updates",
        "iterations": "iterations",
        "episode_returns": "episode_returns",
    }

    def __init__(
        self, cfg: PEARLConfig, env: Any, train_tasks: TaskBatch, device: torch.device, seed: int,
        make_initial_env: Callable[[], Any],
    ) -> None:
        """``env`` has ``tasks_per_iteration * envs_per_task`` sub-envs. ``make_initial_env()``
        makes the env of the first iteration's ``initial_steps`` on every training task, with
        ``train_tasks.n * envs_per_task`` sub-envs; it is called only then (not on resume)."""
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
        n = train_tasks.n
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
        env.set_tasks(self.train_tasks.select(env_tasks))
        seed = draw_seed(self.generator)
        z = self._fresh_z(env_tasks, z_source)

        def act(obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
            with torch.no_grad():
                action, *_ = self.agent.policy(obs.float(), z, False, self.generator)
            return self.agent.to_env_action(action), {"action": action}

        steps = math.ceil(steps_per_task / cfg.envs_per_task)
        for step in trial_steps(env, act, steps=steps, seed=seed, device=self.device):
            transition = dict(obs=step.obs.float(), action=step.extras["action"], reward=step.reward.float(),
                              next_obs=step.final_obs.float(), terminated=step.terminated.float())  # fmt: skip
            self.replay.add(env_tasks, **transition)
            if to_encoder:
                self.encoder_replay.add(env_tasks, **transition)
            done = step.done
            if bool(done.any()):
                self.episode_returns.extend(step.episode_return[done].tolist())
                z = torch.where(done[:, None], self._fresh_z(env_tasks, z_source), z)
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
        cfg, n, env = self.cfg, self.train_tasks.n, self.env
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
        ids = torch.randint(0, self.train_tasks.n, (cfg.meta_batch,), generator=self.generator, device=self.device)
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

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore everything ``state_dict`` saved (checkpoints with separate ``qf1``/``qf2`` are
        converted to the ensemble)."""
        if "qf1.0.weight" in state["agent"]:
            state = _twin_q_as_ensemble(state)
        super().load_state_dict(state)


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


def make_pearl_trainer(cfg: RunConfig, device: torch.device) -> PEARLLearner:
    """PEARL on ``cfg.env``: a batched env with one sub-env group per task collected together."""
    pearl: PEARLConfig = cfg.agent_config
    env = make_training_env(cfg, pearl.tasks_per_iteration * pearl.envs_per_task, device)
    if not isinstance(env.single_action_space, gym.spaces.Box):
        raise ValueError(f"PEARL needs a continuous (Box) action space; {cfg.env.id} has {env.single_action_space}")
    check_whole_episodes(pearl, env.max_episode_steps)
    train_tasks = env.task_set_batch("train")

    def make_initial_env() -> Any:
        # The initial collection visits every training task: one batched pass, no loop over tasks.
        return make_training_env(cfg, train_tasks.n * pearl.envs_per_task, device)

    return PEARLLearner(pearl, env, train_tasks, device, cfg.seed, make_initial_env)
