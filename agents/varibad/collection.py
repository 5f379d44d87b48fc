"""VariBAD's data collection: one whole trial on every sub-env, from the prior belief on new tasks."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from metarl.agents.varibad.agent import VariBADAgent
from torch import Tensor

from metarl.common.distributions import encode_action
from metarl.common.normalization import RewardNormalizer
from metarl.common.protocol import Transition
from metarl.common.training_env import TrainingTasks
from metarl.common.trials import draw_seed, trial_steps
from metarl.core.tasks import TaskBatch
from metarl.core.vector import TaskVectorEnv

#: VecNormalize's bound on the scaled rewards (``cliprew``).
REWARD_CLIP = 10.0


@dataclass
class Trial:
    """One trial on each of ``N`` sub-envs, time-major ``(T, N, ...)`` with ``T = trial_episodes *
    max_episode_steps``; steps after a sub-env's trial ended have ``valid`` False.

    Policy side: ``obs`` acted on, ``latent`` read, ``action`` sampled (before clipping),
    ``value``, ``reward`` raw and ``policy_reward`` (scaled when ``norm_rew_for_policy``),
    ``trial_end`` (the trial's last step), ``timeout`` (an episode ended by its time limit).
    VAE side: ``vae`` holds ``prev_state``, ``action`` (features), ``reward``, ``next_state``
    (``(T, N, ...)``), ``length`` ``(N,)`` and, when decoding the task, ``task`` ``(N, task_dim)``.
    ``episode_return``: the return of each episode where it ended (NaN elsewhere).
    """

    obs: Tensor
    latent: Tensor
    action: Tensor
    value: Tensor
    reward: Tensor
    policy_reward: Tensor
    valid: Tensor
    trial_end: Tensor
    timeout: Tensor
    vae: dict[str, Tensor]
    episode_return: Tensor


def task_vectors(tasks: TaskBatch, names: list[str]) -> Tensor:
    """The task parameters of ``n`` tasks flattened into ``(n, task_dim)`` floats, in ``names`` order."""
    return torch.cat([tasks[k].reshape(tasks[k].shape[0], -1).float() for k in names], dim=-1)


@torch.no_grad()
def collect_trial(env: TaskVectorEnv, agent: VariBADAgent, tasks: TrainingTasks, generator: torch.Generator,
                  trial_episodes: int, rewards: RewardNormalizer | None,
                  task_names: list[str] | None = None) -> Trial:  # fmt: skip
    """One trial of ``trial_episodes`` episodes on every sub-env, all stepped together, from the
    prior belief on tasks drawn from ``tasks``; actions, env seeds and tasks come from ``generator``.

    ``rewards`` (``norm_rew_for_policy``) scales the policy's rewards as the repo's ``VecNormalize``
    (the running discounted return restarts at the trial's end; scaled rewards clipped to +-10);
    with ``task_names`` (when decoding the task) the trial keeps the tasks' parameters.
    """
    device, policy = agent.device, agent.policy
    env.set_tasks(tasks.draw())
    seed = draw_seed(generator)
    state = agent.begin_task(env.num_envs)
    if rewards is not None:
        rewards.restart()  # VecNormalize's running return, from 0 at each trial's start
    steps: list[dict[str, Tensor]] = []

    def act(obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        dist, value = policy(obs, state.latent)
        action = policy.head.sample(dist, generator)
        return policy.head.to_env_action(action), {"latent": state.latent, "action": action, "value": value}

    for step in trial_steps(env, act, episodes=trial_episodes, seed=seed, device=device):
        obs, valid, done, reward = step.obs, step.valid, step.done, step.reward.float()
        steps.append({
            **step.extras, "obs": obs, "reward": reward, "valid": valid, "trial_end": step.trial_end,
            "policy_reward": (reward if rewards is None else rewards.step(reward, step.trial_end, valid)) * valid,
            "timeout": step.truncated, "episode_return": step.episode_return,
            "prev_state": agent.state_features(obs, torch.zeros_like(done)),
            "action_features": encode_action(step.action, agent.action_space),
            "next_state": agent.state_features(step.final_obs, done),
        })  # fmt: skip
        state = agent.observe(state, Transition(obs, step.action, reward, step.final_obs, step.terminated,
                                                step.truncated, valid))  # fmt: skip
    t = {k: torch.stack([s[k] for s in steps]) for k in steps[0]}
    valid = t["valid"]
    vae = {
        "prev_state": t["prev_state"] * valid[..., None],
        "action": t["action_features"] * valid[..., None],
        "reward": t["reward"],
        "next_state": t["next_state"] * valid[..., None],
        "length": valid.sum(0),
    }
    if task_names is not None:
        vae["task"] = task_vectors(env.get_tasks(), task_names).to(device)
    return Trial(t["obs"], t["latent"], t["action"], t["value"], t["reward"], t["policy_reward"], valid,
                 t["trial_end"], t["timeout"], vae, t["episode_return"])  # fmt: skip
