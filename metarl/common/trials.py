"""Trials: the one collector that steps a batched env for every agent, and the per-step input
``(obs, previous action, previous reward, done flag)`` that recurrent meta-learners read.

``trial_steps`` runs the lockstep loop (RL^2's and VariBAD's trials, the oracle's rollouts, the
gradient learners' inner episodes, the evaluator's adaptation episodes): one place counts
episodes and trials, masks the steps outside a trial and computes completed-episode returns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from torch import Tensor

from metarl.common.distributions import encode_action
from metarl.core.spaces import action_dim
from metarl.core.vector import TaskVectorEnv


def trial_input(obs: Tensor, prev_action: Tensor, prev_reward: Tensor, prev_done: Tensor, space: spaces.Space) -> Tensor:
    """RL^2's per-step input: ``[obs, encode_action(prev_action), prev_reward, prev_done]``.

    ``prev_*`` describe the step that led to ``obs`` (zeros at the start of a trial);
    ``prev_done`` is 1 when that step ended an episode, so the network sees episode boundaries.
    """
    return torch.cat(
        [obs.flatten(1).float(), encode_action(prev_action, space), prev_reward.float()[:, None], prev_done.float()[:, None]],
        dim=-1,
    )


def trial_input_dim(obs_space: spaces.Space, space: spaces.Space) -> int:
    """Width of ``trial_input`` for one sub-env."""
    return int(torch.Size(obs_space.shape).numel()) + action_dim(space) + 2


def draw_seed(generator: torch.Generator) -> int:
    """A reset seed for the envs, drawn from ``generator`` (one draw in [0, 2**31 - 1))."""
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))


# ----- the one trial collector -----------------------------------------------------------------
#: A policy step for the collector: observations ``(n, ...)`` on the device -> env actions and
#: whatever the caller wants kept beside each step (log-probabilities, values, inputs, ...).
Policy = Callable[[Tensor], tuple[Tensor, dict[str, Tensor]]]


@dataclass(frozen=True)
class TrialStep:
    """One lockstep step of all ``n`` sub-envs, as ``trial_steps`` yields it (tensors on the device).

    Rows with ``valid`` False are outside their trial (or their episode already ended, with
    autoreset disabled): their reward is 0 and their flags False. Rewards keep the env's dtype. ``next_obs`` is what the policy
    sees next (a new episode's first observation after an autoreset; the held observation of a
    sub-env that waits); ``final_obs`` is the last observation of an episode that ended here.
    ``trial_end``: the sub-env's trial ended at this step. ``episode_return``: the return of the
    episode that ended at this step (float64; NaN where none did): the one meaning of
    ``charts/episodic_return``. ``episode_end``: with autoreset disabled, every sub-env's episode
    has ended (an agent's ``end_episode`` moment). ``extras``: what the policy returned beside the action.
    ``info``: the family's ``info_keys`` entries of this step (float64, ``(n,)``; e.g. ``success``).
    """

    obs: Tensor
    action: Tensor
    reward: Tensor
    next_obs: Tensor
    final_obs: Tensor
    terminated: Tensor
    truncated: Tensor
    valid: Tensor
    trial_end: Tensor
    episode_return: Tensor
    episode_end: bool
    extras: dict[str, Tensor]
    info: dict[str, Tensor]

    @property
    def done(self) -> Tensor:
        """The step ended the sub-env's episode (terminated or truncated; False outside the trial)."""
        return self.terminated | self.truncated


def trial_steps(
    env: TaskVectorEnv,
    policy: Policy,
    *,
    episodes: int | None = None,
    steps: int | None = None,
    seed: int | None = None,
    device: torch.device | str | None = None,
) -> Iterator[TrialStep]:
    """Step every sub-env of ``env`` together from a reset with ``seed``, acting with ``policy``.

    With same-step autoreset, a trial is ``episodes`` consecutive episodes per sub-env: the run
    lasts ``episodes * max_episode_steps`` steps and a sub-env's steps after its trial ended
    (where episodes end early) are invalid; or, with ``steps`` instead, a fixed number of steps
    with no trial boundary. With autoreset disabled, each of the ``episodes`` episodes starts
    with a reset of every sub-env (``seed`` seeds the first) and lasts until all of them ended,
    the sub-envs that ended first waiting with invalid rows. The caller sets the tasks first.
    """
    if (episodes is None) == (steps is None):
        raise ValueError(f"give episodes or steps, not both or neither (got episodes={episodes!r}, steps={steps!r})")
    device = env.device if device is None else torch.device(device)
    if env.metadata.get("autoreset_mode") is AutoresetMode.DISABLED:
        if episodes is None:
            raise ValueError("an env with autoreset disabled runs whole episodes: give episodes, not steps")
        return _episodes(env, policy, episodes, seed, device)
    if episodes is not None and env.max_episode_steps is None:
        raise ValueError("trials of whole episodes need an env with a time limit, got max_episode_steps=None")
    return _continuing(env, policy, episodes, steps or episodes * env.max_episode_steps, seed, device)


def _continuing(env: TaskVectorEnv, policy: Policy, episodes: int | None, total: int, seed: int | None,
                device: torch.device) -> Iterator[TrialStep]:  # fmt: skip
    n = env.num_envs
    obs, _ = env.reset(seed=seed)
    valid = torch.ones(n, dtype=torch.bool, device=device)
    count = torch.zeros(n, dtype=torch.int64, device=device)
    running = torch.zeros(n, dtype=torch.float64, device=device)
    for _ in range(total):
        obs = obs.to(device)
        action, extras = policy(obs)
        next_obs, reward, terminated, truncated, info = env.step(action)
        next_obs, terminated, truncated = next_obs.to(device), terminated.to(device), truncated.to(device)
        kept = _info(env, info, device)
        reward = reward.to(device)
        done = terminated | truncated
        final_obs = next_obs
        if "final_obs" in info:
            final_obs = torch.where(done.view(n, *[1] * (next_obs.ndim - 1)), info["final_obs"].to(device), next_obs)
        trial_end = torch.zeros_like(valid)
        if episodes is not None:
            count += (done & valid).long()
            trial_end = valid & (count == episodes)
        reward = torch.where(valid, reward, torch.zeros_like(reward))
        running += reward
        episode_return = torch.where(done & valid, running, torch.nan)
        running = torch.where(done, 0.0, running)
        yield TrialStep(obs, action, reward, next_obs, final_obs, terminated & valid, truncated & valid, valid,
                        trial_end, episode_return, False, extras, kept)  # fmt: skip
        valid = valid & ~trial_end
        obs = next_obs


def _episodes(env: TaskVectorEnv, policy: Policy, episodes: int, seed: int | None,
              device: torch.device) -> Iterator[TrialStep]:  # fmt: skip
    n = env.num_envs
    for k in range(episodes):
        obs, _ = env.reset(seed=seed if k == 0 else None)
        obs = obs.to(device)
        active = torch.ones(n, dtype=torch.bool, device=device)
        running = torch.zeros(n, dtype=torch.float64, device=device)
        while bool(active.any()):
            action, extras = policy(obs)
            next_obs, reward, terminated, truncated, info = env.step(action)
            next_obs = torch.where(active.view(n, *[1] * (obs.ndim - 1)), next_obs.to(device), obs)
            reward = reward.to(device)
            reward = torch.where(active, reward, torch.zeros_like(reward))
            terminated, truncated = terminated.to(device) & active, truncated.to(device) & active
            done = terminated | truncated
            running += reward
            still = active & ~done
            yield TrialStep(obs, action, reward, next_obs, next_obs, terminated, truncated, active,
                            done if k == episodes - 1 else torch.zeros_like(done), torch.where(done, running, torch.nan),
                            not bool(still.any()), extras, _info(env, info, device))  # fmt: skip
            obs, active = next_obs, still


def _info(env: TaskVectorEnv, info: dict, device: torch.device) -> dict[str, Tensor]:
    """The family's ``info_keys`` entries of a step's ``info`` that the batched face provides (a
    native face may leave out what it cannot compute, e.g. Meta-World's contact-based ``grasp_success``)."""
    return {k: info[k].to(device) for k in getattr(env.family, "info_keys", ()) if k in info}
