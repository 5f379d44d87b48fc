"""Contracts every registered family keeps: API checks, task handling, seeding, SB3 interop."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from conftest import ALL_IDS
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3 import PPO
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from metarl.core.tasks import tasks_equal

EXPECTED_FAMILIES = {
    "PointRobot", "SparsePointRobot", "Navigation2D", "BernoulliBandit", "GaussianBandit", "TabularMDP",
    "GridNavigation", "HalfCheetahVel", "HalfCheetahDir", "AntDir", "AntGoal", "HumanoidDir",
    "Walker2dRandParams", "HopperRandParams",
}  # fmt: skip


def rollout(env, seed, steps, action_seed=0):
    """Observations and rewards of ``steps`` random actions (resetting when an episode ends)."""
    env.action_space.seed(action_seed)
    obs, _ = env.reset(seed=seed)
    observations, rewards = [obs], []
    for _ in range(steps):
        obs, reward, terminated, truncated, _ = env.step(env.action_space.sample())
        observations.append(obs)
        rewards.append(reward)
        if terminated or truncated:
            observations.append(env.reset()[0])
    return np.concatenate([np.ravel(o) for o in observations]), np.array(rewards)


def test_every_family_is_registered():
    assert {i.removeprefix("metarl/").removesuffix("-v0") for i in ALL_IDS} >= EXPECTED_FAMILIES


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_gymnasium_and_sb3_checkers_pass(env_id):
    env = gym.make(env_id)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)  # a checker complaint fails the test
        warnings.filterwarnings("ignore", message=".*(settotalmass|normalized|symmetric|Box bound precision|infinity).*")
        gym_check_env(env.unwrapped, skip_render_check=True)
    sb3_check_env(env.unwrapped, warn=False)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_task_sets_are_fixed_valid_and_distinct(env_id):
    env = gym.make(env_id).unwrapped
    for split in env.available_splits():
        a, b = env.task_set(split), gym.make(env_id).unwrapped.task_set(split)
        assert len(a) > 0 and all(tasks_equal(x, y) for x, y in zip(a, b))
        for task in a:
            assert env.task_space.contains({k: np.asarray(v, dtype=env.task_space[k].dtype) for k, v in task.items()})
    train, test = env.task_set("train"), env.task_set("test")
    if env.enumerate_tasks() is None:
        assert (len(train), len(test)) == (env.num_train_tasks, env.num_test_tasks)
        assert not any(tasks_equal(train[0], t) for t in test)
    else:
        assert len(train) == len(test) == len(env.enumerate_tasks())


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_sample_tasks_is_seeded(env_id):
    env = gym.make(env_id).unwrapped
    a, b, c = env.sample_tasks(6, seed=3), env.sample_tasks(6, seed=3), env.sample_tasks(6, seed=4)
    assert all(tasks_equal(x, y) for x, y in zip(a, b))
    assert not all(tasks_equal(x, y) for x, y in zip(a, c))
    with pytest.raises(ValueError, match="positive integer"):
        env.sample_tasks(0)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_same_seed_same_trajectory_different_seed_differs(env_id):
    obs_a, rew_a = rollout(gym.make(env_id), seed=7, steps=40)
    obs_b, rew_b = rollout(gym.make(env_id), seed=7, steps=40)
    np.testing.assert_array_equal(obs_a, obs_b)
    np.testing.assert_array_equal(rew_a, rew_b)
    obs_c, rew_c = rollout(gym.make(env_id), seed=8, steps=40, action_seed=1)
    assert not (np.array_equal(obs_a, obs_c) and np.array_equal(rew_a, rew_c))


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_task_given_to_make_set_task_and_reset_options(env_id):
    probe = gym.make(env_id).unwrapped
    first, second = probe.task_set("test")[:2] if len(probe.task_set("test")) > 1 else probe.sample_tasks(2, 0)
    env = gym.make(env_id, task=first)
    assert tasks_equal(env.unwrapped.get_task(), first)
    env.reset(seed=0)
    env.step(env.action_space.sample())
    env.reset()
    assert tasks_equal(env.unwrapped.get_task(), first), "reset without options must keep the task"
    env.reset(options={"task": second})
    assert tasks_equal(env.unwrapped.get_task(), second)
    env.unwrapped.set_task(first)
    assert tasks_equal(env.unwrapped.get_task(), first)
    returned = env.unwrapped.get_task()
    next(iter(returned.values())).fill(0)  # get_task hands out a copy
    assert tasks_equal(env.unwrapped.get_task(), first)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_invalid_task_is_rejected_and_leaves_env_unchanged(env_id):
    env = gym.make(env_id).unwrapped
    before = env.get_task()
    name = next(iter(env.task_space.spaces))
    with pytest.raises(ValueError, match=name):
        env.set_task({**before, name: np.full(np.shape(before[name]) + (3,), 0.5)})
    with pytest.raises(ValueError, match="unknown"):
        env.set_task({**before, "bogus": 1.0})
    assert tasks_equal(env.get_task(), before)


@pytest.mark.parametrize("env_id", ALL_IDS)
def test_sb3_ppo_trains_a_few_hundred_steps(env_id):
    env = gym.make(env_id)
    model = PPO("MlpPolicy", env, n_steps=128, batch_size=64, n_epochs=1, seed=0, device="cpu")
    model.learn(total_timesteps=256)
    action, _ = model.predict(env.reset(seed=0)[0], deterministic=True)
    assert env.action_space.contains(action)
