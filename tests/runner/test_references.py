"""Reference returns on the held-out tasks: a random policy, and the known-task optimum of the
families that script one (``oracle_action``), through the same rollouts as the agents."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl  # noqa: F401  (registers the families)
from metarl.common.protocol import Agent, TaskAware
from metarl.runner import references
from metarl.runner.evaluation import _family
from metarl.runner.references import ScriptedOracleAgent, format_references, has_optimum, reference_returns


def held_out(env_id, split="test", **kwargs):
    family = _family(env_id, kwargs)
    return family.task_set(split)


def point_optimum(goal, horizon, tolerance=None):
    """Known-goal return from the origin: after t steps the point can be at best at
    clip(goal, -0.1 t, 0.1 t) (each coordinate moves at most 0.1), computed in numpy."""
    total = 0.0
    for t in range(1, horizon + 1):
        offset = np.clip(goal, -0.1 * t, 0.1 * t) - goal
        total -= float(np.linalg.norm(offset))
        if tolerance is not None and (np.abs(offset) < tolerance).all():
            break
    return total


def test_point_robot_optimum_is_the_known_goal_return_far_above_random():
    refs = reference_returns("metarl/PointRobot-v0", "test", seed=0)
    expected = np.mean([point_optimum(t["goal"].astype(np.float64), 20) for t in held_out("metarl/PointRobot-v0")])
    assert refs["optimum"] == pytest.approx(expected, abs=1e-3)
    # Goals on the unit circle: straight at Euclidean speed 0.1 scores -4.5; diagonal moves do better.
    assert -4.5 < refs["optimum"] < -3.5
    assert -22 < refs["random"] < -18  # random steps barely leave the origin: about -20 per episode
    assert set(refs) == {"random", "optimum"}


def test_navigation_and_sparse_point_robot_optimum():
    refs = reference_returns("metarl/Navigation2D-v0", "test")
    goals = [t["goal"].astype(np.float64) for t in held_out("metarl/Navigation2D-v0")]
    assert refs["optimum"] == pytest.approx(np.mean([point_optimum(g, 100, 0.01) for g in goals]), abs=1e-3)
    assert refs["random"] < 10 * refs["optimum"] < 0
    sparse = reference_returns("metarl/SparsePointRobot-v0", "test")
    assert sparse["random"] == 0.0 and 10 < sparse["optimum"] < 20  # within 0.2 of the goal from step 9 on


def test_bandit_optimum_is_the_best_arm_probability_per_pull():
    pulls = 200  # one pull per episode; many, so that the sampled means are within 0.02
    refs = reference_returns("metarl/BernoulliBandit-v0", "test", episodes=pulls, seed=1)
    probs = np.stack([t["arm_probs"] for t in held_out("metarl/BernoulliBandit-v0")])
    assert refs["optimum"] == pytest.approx(probs.max(axis=1).mean(), abs=0.02)
    assert refs["random"] == pytest.approx(probs.mean(), abs=0.02)
    gauss = reference_returns("metarl/GaussianBandit-v0", "test", episodes=pulls, env_kwargs={"num_arms": 3})
    means = np.stack([t["arm_means"] for t in held_out("metarl/GaussianBandit-v0", num_arms=3)])
    assert means.shape[1] == 3  # the family option reached both the tasks and the hook
    assert gauss["optimum"] == pytest.approx(means.max(axis=1).mean(), abs=0.03)


def test_grid_optimum_walks_a_shortest_path_and_stays():
    refs = reference_returns("metarl/GridNavigation-v0", "test", episodes=1)
    # Goal at Manhattan distance d: -0.1 for each of the first d - 1 steps, then 1 per step to 15.
    d = np.array([t["goal"].sum() for t in held_out("metarl/GridNavigation-v0")])
    assert refs["optimum"] == pytest.approx(np.mean(-0.1 * (d - 1) + (16 - d)), abs=1e-5)


def tabular_q(means, transitions, h):
    """Q with h steps to go, one task, by plain loops."""
    q = means.copy()
    for _ in range(h - 1):
        q = means + transitions @ q.max(axis=1)
    return q


def test_tabular_optimum_is_finite_horizon_value_iteration():
    family = _family("metarl/TabularMDP-v0", {})
    tasks = family.task_set("test")[:3]
    batch = {k: torch.as_tensor(np.stack([t[k] for t in tasks])) for k in tasks[0]}
    for h in (1, 4, 10):
        for s in range(family.num_states):
            obs = torch.nn.functional.one_hot(torch.full((3,), s), family.num_states).float()
            actions = family.oracle_action(obs, batch, torch.full((3,), h))
            for i, t in enumerate(tasks):
                q = tabular_q(t["reward_means"].astype(np.float64), t["transitions"].astype(np.float64), h)[s]
                assert q[int(actions[i])] == pytest.approx(q.max())
    refs = reference_returns("metarl/TabularMDP-v0", "test")
    assert refs["optimum"] > refs["random"] + 5


def test_mujoco_families_get_the_random_reference_from_one_episode(monkeypatch):
    calls = []
    real = references.evaluate_adaptation

    def spy(agent, env_id, **kwargs):
        calls.append(kwargs["episodes"])
        return real(agent, env_id, **kwargs)

    monkeypatch.setattr(references, "evaluate_adaptation", spy)
    tasks = held_out("metarl/HalfCheetahVel-v0")[:2]
    refs = reference_returns("metarl/HalfCheetahVel-v0", episodes=3, tasks=tasks)
    assert set(refs) == {"random"} and np.isfinite(refs["random"]) and calls == [1]
    assert not has_optimum("metarl/HalfCheetahVel-v0") and has_optimum("metarl/PointRobot-v0")


def test_the_oracle_is_a_task_aware_agent_and_formatting():
    family = _family("metarl/PointRobot-v0", {})
    agent = ScriptedOracleAgent(family, gym.spec("metarl/PointRobot-v0").max_episode_steps)
    assert isinstance(agent, Agent) and isinstance(agent, TaskAware)
    with pytest.raises(RuntimeError, match="set_tasks"):
        agent.begin_task(2)
    with pytest.raises(ValueError, match="defines no oracle_action"):
        ScriptedOracleAgent(_family("metarl/HalfCheetahVel-v0", {}), 200)
    assert format_references({"optimum": -5.4, "random": -20.31}) == (
        "random policy: -20.31   known-task optimum: -5.40 (mean return per episode on the same tasks)"
    )
    assert format_references({"random": 0.5}).startswith("random policy: 0.50 (") and format_references(None) == ""
