"""Each analytic family against its reference definition, computed independently in numpy."""

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats


def test_point_robot_dense_reward_and_clipping():
    env = gym.make("metarl/PointRobot-v0", task={"goal": [0.6, 0.8]})
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0.0, 0.0])
    position = np.zeros(2)
    for action in ([0.5, -0.05], [0.03, 0.2], [-0.1, 0.1]):
        obs, reward, terminated, truncated, _ = env.step(np.array(action, np.float32))
        position += np.clip(action, -0.1, 0.1)
        np.testing.assert_allclose(obs, position, atol=1e-6)
        assert reward == pytest.approx(-np.linalg.norm(position - [0.6, 0.8]), abs=1e-6)
        assert not terminated and not truncated


def test_point_robot_horizon_and_goal_distribution():
    env = gym.make("metarl/PointRobot-v0")
    env.reset(seed=0)
    steps = 0
    while True:
        steps += 1
        if any(env.step(env.action_space.sample())[2:4]):
            break
    assert steps == 20
    goals = np.stack([t["goal"] for t in env.unwrapped.sample_tasks(500, seed=0)])
    np.testing.assert_allclose(np.linalg.norm(goals, axis=1), 1.0, atol=1e-6)
    angles = np.arctan2(goals[:, 1], goals[:, 0])
    assert angles.min() >= 0 and angles.max() <= np.pi
    assert stats.kstest(angles / np.pi, "uniform").pvalue > 0.01
    ood = np.stack([t["goal"] for t in env.unwrapped.task_set("ood")])
    assert (ood[:, 1] < 0).all()


def test_sparse_point_robot_reward_inside_and_outside_radius():
    env = gym.make("metarl/SparsePointRobot-v0", task={"goal": [0.0, 0.35]})
    env.reset(seed=0)
    _, r1, *_ = env.step(np.array([0.0, 0.1], np.float32))  # distance 0.25 > 0.2
    _, r2, *_ = env.step(np.array([0.0, 0.1], np.float32))  # distance 0.15
    assert r1 == 0.0
    assert r2 == pytest.approx(1 - 0.15, abs=1e-6)


def test_navigation2d_terminates_within_tolerance_and_horizon_100():
    env = gym.make("metarl/Navigation2D-v0", task={"goal": [0.205, -0.1]})
    env.reset(seed=0)
    _, _, terminated, *_ = env.step(np.array([0.3, -0.05], np.float32))  # clipped to 0.1 on x
    assert not terminated
    _, reward, terminated, *_ = env.step(np.array([0.1, -0.05], np.float32))  # at (0.2, -0.1)
    assert terminated and reward == pytest.approx(-0.005, abs=1e-6)
    env.unwrapped.set_task({"goal": [0.205, -0.2]})  # one axis within 0.01 is not enough
    env.reset()
    for _ in range(2):
        *_, terminated, _, _ = env.step(np.array([0.1, -0.05], np.float32))
    assert not terminated
    goals = np.stack([t["goal"] for t in env.unwrapped.sample_tasks(400, seed=0)])
    assert goals.min() >= -0.5 and goals.max() <= 0.5
    ood = np.stack([t["goal"] for t in env.unwrapped.task_set("ood")])
    assert (np.abs(ood).max(axis=1) > 0.5).all() and np.abs(ood).max() <= 1.0
    assert gym.spec("metarl/Navigation2D-v0").max_episode_steps == 100


def test_bernoulli_bandit_pays_arm_probabilities_and_hides_the_task():
    probs = np.array([0.1, 0.9, 0.5, 0.0, 1.0], np.float32)
    env = gym.make("metarl/BernoulliBandit-v0", task={"arm_probs": probs})
    obs, _ = env.reset(seed=0)
    means = []
    for arm in range(5):
        pulls = []
        for _ in range(400):
            obs, reward, terminated, *_ = env.step(arm)
            assert terminated and np.all(obs == 0) and reward in (0.0, 1.0)
            pulls.append(reward)
            env.reset()
        means.append(np.mean(pulls))
    np.testing.assert_allclose(means, probs, atol=0.08)
    assert means[3] == 0.0 and means[4] == 1.0
    assert gym.make("metarl/BernoulliBandit-v0", num_arms=10).action_space.n == 10


def test_gaussian_bandit_reward_mean_and_std():
    env = gym.make("metarl/GaussianBandit-v0", task={"arm_means": [2.0, -1.0, 0.0, 0.5, 1.0]})
    env.reset(seed=0)
    rewards = []
    for _ in range(2000):
        rewards.append(env.step(1)[1])
        env.reset()
    assert np.mean(rewards) == pytest.approx(-1.0, abs=0.08)
    assert np.std(rewards) == pytest.approx(1.0, abs=0.08)


def test_tabular_mdp_follows_transitions_and_reward_means():
    s, a = 10, 5
    transitions = np.zeros((s, a, s), np.float32)
    transitions[:, :, 3] = 1.0  # every action leads to state 3 ...
    transitions[3, 2] = 0.0
    transitions[3, 2, [7, 8]] = 0.5  # ... except action 2 in state 3: 7 or 8
    means = np.arange(s * a, dtype=np.float32).reshape(s, a) / 10
    env = gym.make("metarl/TabularMDP-v0", task={"transitions": transitions, "reward_means": means})
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, np.eye(s)[0])
    obs, *_ = env.step(0)
    np.testing.assert_array_equal(obs, np.eye(s)[3])
    next_states, rewards = [], []
    for _ in range(300):
        env.reset()
        env.step(0)
        obs, reward, *_ = env.step(2)
        next_states.append(int(obs.argmax()))
        rewards.append(reward)
    assert set(next_states) == {7, 8} and 0.4 < np.mean(np.array(next_states) == 7) < 0.6
    assert np.mean(rewards) == pytest.approx(means[3, 2], abs=0.15)
    assert np.std(rewards) == pytest.approx(1.0, abs=0.12)


def test_tabular_mdp_task_distribution_and_simplex_check():
    env = gym.make("metarl/TabularMDP-v0").unwrapped
    tasks = env.sample_tasks(200, seed=0)
    sums = np.stack([t["transitions"].sum(-1) for t in tasks])
    np.testing.assert_allclose(sums, 1.0, atol=1e-5)
    means = np.concatenate([t["reward_means"].ravel() for t in tasks])
    assert means.mean() == pytest.approx(1.0, abs=0.05) and means.std() == pytest.approx(1.0, abs=0.05)
    bad = dict(tasks[0], transitions=tasks[0]["transitions"] * 0.5)
    with pytest.raises(ValueError, match="'transitions'.*summing to 1"):
        env.set_task(bad)


def test_gridworld_moves_rewards_and_goal_set():
    env = gym.make("metarl/GridNavigation-v0", task={"goal": [2, 1]})
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(obs, [0, 0])
    # stay, left (blocked by the wall), right, right, up -> reaches the goal (2, 1), then stay on it
    expected = [([0, 0], -0.1), ([0, 0], -0.1), ([1, 0], -0.1), ([2, 0], -0.1), ([2, 1], 1.0), ([2, 1], 1.0)]
    for action, (position, reward) in zip([0, 4, 2, 2, 1, 0], expected):
        obs, r, terminated, truncated, _ = env.step(action)
        np.testing.assert_array_equal(obs, position)
        assert r == pytest.approx(reward) and not terminated
    goals = {tuple(t["goal"]) for t in env.unwrapped.task_set("train")}
    assert len(goals) == 21 and not goals & {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert gym.spec("metarl/GridNavigation-v0").max_episode_steps == 15
