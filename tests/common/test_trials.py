"""metarl.common.trials: the one collector counts episodes and trials, masks what lies outside a
trial and reports completed-episode returns, with autoreset on or off."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch
from metarl.envs.point import toward_goal as goal_seeker

import metarl  # noqa: F401  (registers the families)
from metarl.common.trials import trial_steps


def make(n: int, autoreset: str = "same_step"):
    return gym.make_vec("metarl/Navigation2D-v0", num_envs=n, vectorization_mode="vector_entry_point", device="cpu",
                        autoreset_mode=autoreset)  # fmt: skip


def seeker(env, wobble: torch.Tensor):
    """Moves toward each sub-env's goal (Navigation2D terminates there), sub-env i slowed by ``wobble[i]``."""
    tasks = env.get_tasks()
    return lambda obs: (goal_seeker(obs, tasks) * wobble[:, None], {"obs": obs})


def test_a_trial_is_whole_episodes_per_sub_env_and_nothing_after():
    env = make(3)
    policy = seeker(env, torch.tensor([1.0, 0.5, 0.0]))  # sub-env 2 never reaches its goal: time limit
    steps = list(trial_steps(env, policy, episodes=2, seed=0))
    assert len(steps) == 2 * env.max_episode_steps
    valid, ends, done = (torch.stack([getattr(s, k) for s in steps]) for k in ("valid", "trial_end", "done"))
    assert ends.sum(0).tolist() == [1, 1, 1] and done.sum(0).tolist() == [2, 2, 2]  # two episodes each, one trial
    for i in range(3):
        last = int(ends[:, i].nonzero())
        assert valid[: last + 1, i].all() and not valid[last + 1 :, i].any()  # nothing counts after the trial
    assert int(ends[:, 2].nonzero()) == 2 * env.max_episode_steps - 1  # the slow one used its whole time
    rewards = torch.stack([s.reward for s in steps])
    assert (rewards[~valid] == 0).all()
    returns = torch.stack([s.episode_return for s in steps])
    assert returns.isfinite().sum(0).tolist() == [2, 2, 2]
    # an episode's return is the sum of its rewards: here, the whole trial's
    torch.testing.assert_close(returns.nan_to_num().sum(0), rewards.double().sum(0))
    env.close()


def test_fixed_steps_have_no_trial_boundary_and_continue_across_episodes():
    env = make(2)
    steps = list(trial_steps(env, seeker(env, torch.ones(2)), steps=30, seed=1))
    assert len(steps) == 30 and all(bool(s.valid.all()) and not s.trial_end.any() for s in steps)
    ended = torch.stack([s.done for s in steps]).sum(0)
    assert (ended >= 2).all()  # short episodes restart (same-step autoreset) within the 30 steps
    final = [s for s in steps if s.done[0]][0]
    assert not torch.equal(final.final_obs[0], final.next_obs[0])  # the last observation, not the reset one
    env.close()


def test_without_autoreset_each_episode_runs_until_every_sub_env_ended():
    env = make(2, "disabled")
    steps = list(trial_steps(env, seeker(env, torch.tensor([1.0, 0.5])), episodes=3, seed=2))
    assert sum(s.episode_end for s in steps) == 3 and steps[-1].episode_end
    first = steps[: [s.episode_end for s in steps].index(True) + 1]
    waiting = [s for s in first if not s.valid[0]]
    assert waiting and all(torch.equal(s.next_obs[0], s.obs[0]) and s.reward[0] == 0 for s in waiting)
    assert torch.stack([s.trial_end for s in steps]).sum(0).tolist() == [1, 1]  # in the last episode only
    assert torch.stack([s.episode_return.isfinite() for s in steps]).sum(0).tolist() == [3, 3]
    env.close()


def test_the_collector_refuses_what_it_cannot_run():
    env = make(2)
    with pytest.raises(ValueError, match="give episodes or steps"):
        trial_steps(env, seeker(env, torch.ones(2)), episodes=1, steps=5)
    disabled = make(2, "disabled")
    with pytest.raises(ValueError, match="give episodes, not steps"):
        trial_steps(disabled, seeker(disabled, torch.ones(2)), steps=5)
    env.close()
    disabled.close()
