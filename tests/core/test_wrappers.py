"""metarl.core.wrappers: RL^2 trials, the mixture of training tasks and the task-in-observation oracle input."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env as gymnasium_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import metarl  # noqa: F401  (registers the families)
from metarl.common.trials import trial_input, trial_input_dim
from metarl.core.tasks import tasks_equal, tasks_to_tensors
from metarl.core.wrappers import (
    MultiTaskWrapper,
    TaskObservationWrapper,
    TrialWrapper,
    task_features,
    task_features_space,
    trial_observation,
)


def task_key(task):
    return tuple(np.concatenate([np.ravel(v) for v in task.values()]).tolist())


@pytest.mark.parametrize(
    "space, action",
    [(spaces.Discrete(5), 3), (spaces.Discrete(3, start=-1), -1), (spaces.Box(-1, 1, (3,)), [0.5, -0.25, 1.0])],
)
def test_trial_observation_is_trial_input_for_one_env(space, action):
    obs = np.array([0.3, -2.0], dtype=np.float32)
    mine = trial_observation(obs, np.asarray(action), 0.7, True, space)
    batched = trial_input(
        torch.as_tensor(obs)[None], torch.as_tensor(np.asarray(action))[None], torch.tensor([0.7]), torch.tensor([True]), space
    )[0]
    assert mine.dtype == np.float32 and mine.shape == (trial_input_dim(spaces.Box(-1, 1, (2,)), space),)
    np.testing.assert_array_equal(mine, batched.numpy())


def test_trial_layout_on_a_bandit():
    env = TrialWrapper(gym.make("metarl/BernoulliBandit-v0"))  # 5 arms, obs (1,), 10 pulls per trial
    assert env.trial_episodes == 10 and env.observation_space.shape == (1 + 5 + 1 + 1,)
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0, 1, 0, 0, 0, 0, 0, 0])  # no previous step: arm index 0, reward 0, done 0
    obs, reward, terminated, truncated, info = env.step(3)
    np.testing.assert_array_equal(obs, [0, 0, 0, 0, 1, 0, reward, 1])  # the pull ended an inner episode
    assert not terminated and not truncated and info["inner_episode"] == {"r": reward, "l": 1, "k": 1}


def test_a_trial_keeps_its_task_ends_only_after_the_last_episode_and_reports_inner_returns():
    env = TrialWrapper(gym.make("metarl/PointRobot-v0"), trial_episodes=3)  # horizon 20
    obs, info = env.reset(seed=1)
    task = env.unwrapped.get_task()
    rewards, dones, inner = [], [], []
    for t in range(60):
        assert tasks_equal(env.unwrapped.get_task(), task)
        action = np.array([0.1, -0.05], dtype=np.float32)
        obs, reward, terminated, truncated, info = env.step(action)
        rewards.append(reward)
        dones.append(terminated)
        assert not truncated
        np.testing.assert_allclose(obs[2:], [0.1, -0.05, reward, float((t + 1) % 20 == 0)], rtol=1e-6)
        if (t + 1) % 20 == 0 and t < 59:
            np.testing.assert_array_equal(obs[:2], [0.0, 0.0])  # the next inner episode's first observation
        if "inner_episode" in info:
            inner.append(info["inner_episode"])
    assert dones == [False] * 59 + [True]
    assert [e["l"] for e in inner] == [20, 20, 20] and [e["k"] for e in inner] == [1, 2, 3]
    sums = np.array(rewards).reshape(3, 20).sum(1)
    np.testing.assert_allclose([e["r"] for e in inner], sums)
    np.testing.assert_allclose(info["trial_returns"], sums)
    np.testing.assert_array_equal(info["trial_lengths"], [20, 20, 20])


def trial_tasks(env, trials, seed):
    out = []
    for i in range(trials):
        env.reset(seed=seed if i == 0 else None)
        out.append(task_key(env.unwrapped.get_task()))
        terminated = False
        while not terminated:
            _, _, terminated, _, _ = env.step(env.action_space.sample())
    return out


def test_trials_draw_seeded_tasks_from_the_chosen_source():
    family = gym.make("metarl/BernoulliBandit-v0").unwrapped
    train = {task_key(t) for t in family.task_set("train")}
    env = TrialWrapper(gym.make("metarl/BernoulliBandit-v0"), trial_episodes=2)
    drawn = trial_tasks(env, 20, seed=5)
    assert set(drawn) <= train and len(set(drawn)) > 10  # a new training task per trial
    assert trial_tasks(env, 20, seed=5) == drawn and trial_tasks(env, 20, seed=6) != drawn
    fresh = trial_tasks(TrialWrapper(gym.make("metarl/BernoulliBandit-v0"), 2, task_distribution="distribution"), 5, 5)
    assert not set(fresh) & train
    test = {task_key(t) for t in family.task_set("test")}
    assert set(trial_tasks(TrialWrapper(gym.make("metarl/BernoulliBandit-v0"), 2, task_distribution="test"), 5, 5)) <= test
    given = family.task_set("test")[3]
    env.reset(options={"task": given})
    assert tasks_equal(env.unwrapped.get_task(), given)


def test_the_multitask_wrapper_draws_a_training_task_every_episode():
    env = MultiTaskWrapper(gym.make("metarl/PointRobot-v0"))
    train = {task_key(t) for t in env.unwrapped.task_set("train")}
    tasks = []
    for i in range(10):
        env.reset(seed=2 if i == 0 else None)
        tasks.append(task_key(env.unwrapped.get_task()))
    assert set(tasks) <= train and len(set(tasks)) > 5


def test_task_observation_appends_the_current_tasks_parameters():
    env = TaskObservationWrapper(MultiTaskWrapper(gym.make("metarl/PointRobot-v0")))
    assert env.observation_space.shape == (4,) and np.all(env.observation_space.low[2:] == -1)
    for i in range(3):
        obs, _ = env.reset(seed=0 if i == 0 else None)
        np.testing.assert_array_equal(obs[2:], env.unwrapped.get_task()["goal"])
        obs, *_ = env.step(np.zeros(2, dtype=np.float32))
        np.testing.assert_array_equal(obs[2:], env.unwrapped.get_task()["goal"])
    grid = gym.make("metarl/GridNavigation-v0").unwrapped.task_space  # integer parameters as their values
    features = task_features(tasks_to_tensors([{"goal": np.array([3, 1])}]), grid)
    assert features.dtype == torch.float32 and features.tolist() == [[3.0, 1.0]]
    np.testing.assert_array_equal(task_features_space(grid).high, [4, 4])


@pytest.mark.filterwarnings("ignore::UserWarning")  # the checkers' advice on infinite bounds and wrapped envs
@pytest.mark.parametrize("env_id", ["metarl/BernoulliBandit-v0", "metarl/PointRobot-v0", "metarl/HalfCheetahVel-v0"])
def test_wrapped_envs_pass_the_env_checkers(env_id):
    for wrap in (TrialWrapper, lambda e: TaskObservationWrapper(MultiTaskWrapper(e, "distribution"))):
        env = wrap(gym.make(env_id))
        sb3_check_env(env, warn=False)
        if env_id != "metarl/BernoulliBandit-v0" or isinstance(env, TrialWrapper):
            # (a bare bandit episode is one pull, which gymnasium's checker reads as a broken time limit)
            gymnasium_check_env(env, skip_render_check=True)


def test_wrappers_reject_what_they_cannot_wrap():
    with pytest.raises(TypeError, match="not a task-distributed family"):
        TrialWrapper(gym.make("CartPole-v1"))
    with pytest.raises(ValueError, match="trial_episodes must be a positive integer, got 0"):
        TrialWrapper(gym.make("metarl/PointRobot-v0"), trial_episodes=0)
    with pytest.raises(ValueError, match="'val' is not allowed; allowed: train, test, ood, distribution"):
        MultiTaskWrapper(gym.make("metarl/PointRobot-v0"), "val")
    with pytest.raises(ValueError, match="no 'ood' task set"):
        MultiTaskWrapper(gym.make("metarl/BernoulliBandit-v0"), "ood")
