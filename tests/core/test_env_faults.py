"""Faults and bad input at the environments' public API (issue 14): actions, reset options,
task batches and scale, for a continuous analytic family (PointRobot), a discrete one
(BernoulliBandit), the grid world, and a MuJoCo batched face (HalfCheetahVel)."""

import time

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl
import metarl.core.vector
from metarl.core.meta_env import MetaEnv

ANALYTIC = [f"metarl/{name}-v0" for name in metarl.envs.ANALYTIC_FAMILIES]


def make_vec(env_id, num_envs, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def raises(exc, call, *fragments):
    """``call()`` raises ``exc`` whose message contains every fragment."""
    with pytest.raises(exc) as err:
        call()
    for fragment in fragments:
        assert fragment in str(err.value), (fragment, str(err.value))
    return err.value


@pytest.fixture(scope="module")
def cheetah():
    env = make_vec("metarl/HalfCheetahVel-v0", 2)
    env.reset(seed=0)
    return env


# ----- actions: batched faces ---------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(8,), (2, 4), (4, 3), (4,), (1, 2), (4, 2, 1)])
def test_point_robot_batched_rejects_every_other_action_shape(shape):
    env = make_vec("metarl/PointRobot-v0", 4)
    env.reset(seed=0)
    raises(ValueError, lambda: env.step(np.zeros(shape, np.float32)), f"shape {shape}", "(4, 2)")


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_point_robot_batched_rejects_non_finite_actions_and_keeps_its_state(bad):
    env = make_vec("metarl/PointRobot-v0", 4)
    env.reset(seed=0)
    obs, *_ = env.step(torch.full((4, 2), 0.05))
    actions = torch.zeros(4, 2)
    actions[2, 1] = bad
    raises(ValueError, lambda: env.step(actions), "sub-env 2", "not finite", "[-0.1, 0.1]^2")
    after, *_ = env.step(torch.zeros(4, 2))  # the failed step changed nothing
    torch.testing.assert_close(after, obs)


def test_point_robot_batched_still_clips_box_actions():
    env = make_vec("metarl/PointRobot-v0", 2)
    env.reset(seed=0)
    obs, *_ = env.step(np.array([[5.0, -5.0], [0.05, 0.0]], np.float32))
    torch.testing.assert_close(obs, torch.tensor([[0.1, -0.1], [0.05, 0.0]]))


@pytest.mark.parametrize(
    "actions, fragments",
    [
        ([0, 1, 2, -1], ["-1", "sub-env 3", "outside the allowed range", "{0..4}"]),
        ([0, 5, 2, 1], ["5", "sub-env 1", "outside the allowed range", "{0..4}"]),
        ([0, 1, 2.7, 1], ["2.7", "sub-env 2", "not an integer", "{0..4}"]),
        ([0, 1, float("nan"), 1], ["nan", "sub-env 2", "not an integer"]),
        (np.zeros((4, 1), np.int64), ["shape (4, 1)", "(4,)"]),
        (np.zeros(8, np.int64), ["shape (8,)", "(4,)"]),
        (np.zeros(4, bool), ["bool", "not numbers"]),
        (np.array(["a", "b", "c", "d"]), ["not numeric"]),
    ],
)
def test_bandit_batched_rejects_bad_discrete_actions(actions, fragments):
    env = make_vec("metarl/BernoulliBandit-v0", 4)
    env.reset(seed=0)
    raises(ValueError, lambda: env.step(actions), *fragments)


def test_bandit_batched_accepts_integer_valued_floats_and_integer_tensors():
    tasks = {"arm_probs": np.eye(5, dtype=np.float32)[[0, 1, 2, 3]]}  # arm i pays 1 in sub-env i
    env = make_vec("metarl/BernoulliBandit-v0", 4, tasks=tasks)
    env.reset(seed=0)
    _, reward, *_ = env.step(np.array([0.0, 1.0, 2.0, 3.0]))
    torch.testing.assert_close(reward, torch.ones(4))
    _, reward, *_ = env.step(torch.tensor([0, 1, 2, 3], dtype=torch.int32))
    torch.testing.assert_close(reward, torch.ones(4))


def test_check_actions_off_skips_value_checks_but_never_shape_checks():
    env = make_vec("metarl/PointRobot-v0", 2, check_actions=False)
    assert env.check_actions is False
    env.reset(seed=0)
    obs, *_ = env.step(torch.tensor([[float("nan"), 0.0], [0.0, 0.0]]))  # documented: unchecked
    assert torch.isnan(obs[0, 0]) and torch.isfinite(obs[1]).all()
    raises(ValueError, lambda: env.step(torch.zeros(4)), "shape (4,)", "(2, 2)")
    bandit = make_vec("metarl/BernoulliBandit-v0", 2, check_actions=False)
    bandit.reset(seed=0)
    raises(ValueError, lambda: bandit.step(torch.zeros(2, 1, dtype=torch.int64)), "shape (2, 1)")


@pytest.mark.parametrize("env_id", ANALYTIC)
def test_every_analytic_vector_entry_point_accepts_check_actions(env_id):
    assert make_vec(env_id, 2, check_actions=False).check_actions is False
    assert make_vec(env_id, 2).check_actions is True


def test_half_cheetah_batched_checks_actions(cheetah):
    raises(ValueError, lambda: cheetah.step(np.zeros((2, 5))), "shape (2, 5)", "(2, 6)")
    raises(ValueError, lambda: cheetah.step(np.zeros(12)), "shape (12,)", "(2, 6)")
    actions = np.zeros((2, 6))
    actions[1, 3] = np.nan
    raises(ValueError, lambda: cheetah.step(actions), "sub-env 1", "not finite")
    obs, reward, *_ = cheetah.step(np.full((2, 6), 3.0))  # out of range: clipped by MuJoCo, no error
    assert torch.isfinite(obs).all() and torch.isfinite(reward).all()
    assert make_vec("metarl/HalfCheetahVel-v0", 1, check_actions=False).check_actions is False


# ----- actions: single faces ----------------------------------------------------------------------
def test_single_faces_apply_the_same_action_checks():
    point = gym.make("metarl/PointRobot-v0")
    point.reset(seed=0)
    raises(ValueError, lambda: point.step(np.zeros(3, np.float32)), "shape (3,)", "expected shape (2,)")
    raises(ValueError, lambda: point.step(np.zeros((1, 2), np.float32)), "shape (1, 2)", "expected shape (2,)")
    raises(ValueError, lambda: point.step(np.array([np.nan, 0.0], np.float32)), "not finite")
    bandit = gym.make("metarl/BernoulliBandit-v0").unwrapped  # below the env checker: our own errors
    bandit.reset(seed=0)
    raises(ValueError, lambda: bandit.step(-1), "action -1", "{0..4}")
    raises(ValueError, lambda: bandit.step(5), "action 5", "{0..4}")
    raises(ValueError, lambda: bandit.step(2.7), "action 2.7", "not an integer")
    raises(ValueError, lambda: bandit.step(np.array([1])), "shape (1,)", "expected shape ()")
    for ok in (2, np.int64(2), 2.0):
        bandit.reset()
        bandit.step(ok)
    cheetah = gym.make("metarl/HalfCheetahVel-v0").unwrapped
    cheetah.reset(seed=0)
    raises(ValueError, lambda: cheetah.step(np.full(6, np.nan)), "not finite")
    raises(ValueError, lambda: cheetah.step(np.zeros(5)), "shape (5,)", "(6,)")


# ----- reset options --------------------------------------------------------------------------------
@pytest.mark.parametrize("env_id", ["metarl/PointRobot-v0", "metarl/BernoulliBandit-v0", "metarl/HalfCheetahVel-v0"])
def test_reset_options_that_are_not_a_dict_are_a_type_error_in_both_faces(env_id):
    batched = make_vec(env_id, 2)
    raises(TypeError, lambda: batched.reset(options=5), "int", "'reset_mask'", "'task'", "'tasks'")
    raises(TypeError, lambda: batched.reset(options=[("task", {})]), "list")
    single = gym.make(env_id)
    raises(TypeError, lambda: single.reset(options=5), "int", "dict")


def test_batched_reset_rejects_unknown_option_keys_and_conflicting_tasks():
    env = make_vec("metarl/PointRobot-v0", 2)
    raises(ValueError, lambda: env.reset(options={"seed": 1}), "'seed'", "'reset_mask'", "'task'", "'tasks'")
    both = {"task": {"goal": [0.1, 0.1]}, "tasks": [{"goal": [0.1, 0.1]}] * 2}
    raises(ValueError, lambda: env.reset(options=both), "'task'", "'tasks'")


@pytest.mark.parametrize(
    "env_id, bad, good, fragments",
    [
        ("metarl/PointRobot-v0", {"goal": [3.0, 0.0]}, {"goal": [0.5, -0.5]}, ["'goal'", "[3. 0.]", "[-1, 1]^2"]),
        ("metarl/BernoulliBandit-v0", {"arm_probs": [0.1, 0.2, 1.5, 0.3, 0.4]}, {"arm_probs": [0.1, 0.9, 0.5, 0.3, 0.4]},
         ["'arm_probs'", "1.5", "[0, 1]^5"]),
        ("metarl/HalfCheetahVel-v0", {"velocity": 9.0}, {"velocity": 1.25}, ["'velocity'", "9.0", "[0, 5]"]),
    ],
)  # fmt: skip
def test_batched_reset_task_option_is_validated_then_applied(env_id, bad, good, fragments):
    env = make_vec(env_id, 3)
    env.reset(seed=0)
    before = env.get_tasks()
    raises(ValueError, lambda: env.reset(options={"task": bad}), *fragments)
    torch.testing.assert_close(env.get_tasks(), before)  # nothing changed
    env.reset(options={"task": good, "reset_mask": np.array([True, False, True])})
    (name, value), = good.items()
    after = env.get_tasks()[name]
    expected = torch.as_tensor(np.asarray(value), dtype=after.dtype)
    torch.testing.assert_close(after[[0, 2]], torch.stack([expected, expected]))
    torch.testing.assert_close(after[1], before[name][1])
    env.reset(options={"task": good})
    torch.testing.assert_close(env.get_tasks()[name], expected.expand_as(after))


def test_batched_reset_tasks_option_takes_a_batch_or_a_list():
    env = make_vec("metarl/PointRobot-v0", 3)
    goals = np.array([[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], np.float32)
    obs, _ = env.reset(seed=0, options={"tasks": {"goal": torch.as_tensor(goals)}})
    torch.testing.assert_close(env.get_tasks()["goal"], torch.as_tensor(goals))
    assert torch.equal(obs, torch.zeros(3, 2))
    mask = np.array([False, True, False])
    env.reset(options={"tasks": [{"goal": [-0.5, -0.5]}], "reset_mask": mask})
    torch.testing.assert_close(env.get_tasks()["goal"][1], torch.tensor([-0.5, -0.5]))
    raises(ValueError, lambda: env.reset(options={"tasks": {"goal": goals[:2]}}), "got 2 tasks for 3 selected")
    bad = goals.copy()
    bad[2, 0] = np.nan
    raises(ValueError, lambda: env.reset(options={"tasks": {"goal": bad}}), "'goal'", "task 2 of the batch", "not finite")


# ----- task batches ---------------------------------------------------------------------------------
def test_task_batch_errors_name_parameter_value_index_and_range():
    env = make_vec("metarl/PointRobot-v0", 5)
    goals = np.zeros((5, 2), np.float32)
    goals[3] = [0.5, 1.7]
    raises(ValueError, lambda: env.set_tasks({"goal": goals}), "'goal'", "[0.5 1.7]", "task 3 of the batch", "[-1, 1]^2")
    raises(ValueError, lambda: env.set_tasks({"goal": np.zeros((5, 3))}), "'goal'", "(5, 3)", "(5, 2)")
    raises(ValueError, lambda: env.set_tasks({"goal": np.zeros((5, 2)), "speed": np.zeros(5)}), "unknown ['speed']")
    listed = [{"goal": [0, 0]}] * 4 + [{"goal": [0, 0, 0]}]
    raises(ValueError, lambda: env.set_tasks(listed), "task 4 of the list", "shape (3,)")
    bandit = make_vec("metarl/BernoulliBandit-v0", 4)
    probs = np.full((4, 5), 0.5)
    probs[2, 4] = -0.25
    raises(ValueError, lambda: bandit.set_tasks({"arm_probs": probs}), "'arm_probs'", "task 2 of the batch", "-0.25")
    mdp = make_vec("metarl/TabularMDP-v0", 3)
    tasks = {k: v.clone() for k, v in mdp.get_tasks().items()}
    tasks["transitions"][1, 4, 2] *= 0.5
    raises(ValueError, lambda: mdp.set_tasks(tasks), "'transitions'", "task 1 of the batch", "row [4, 2]", "summing to 1")
    cheetah = make_vec("metarl/HalfCheetahDir-v0", 3)
    raises(ValueError, lambda: cheetah.set_tasks({"direction": np.array([1.0, -1.0, 0.5])}),
           "'direction'", "0.5", "task 2 of the batch", "[1.0, -1.0]")  # fmt: skip


def test_task_batches_are_validated_without_a_python_loop_over_tasks(monkeypatch):
    calls = []
    one_task = MetaEnv.validate_task
    monkeypatch.setattr(MetaEnv, "validate_task", lambda self, task: calls.append(1) or one_task(self, task))
    env = make_vec("metarl/PointRobot-v0", 1000)  # default tasks: the stacked train set, tiled
    env.set_tasks({"goal": torch.full((1000, 2), 0.25)})
    env.reset(options={"tasks": {"goal": np.zeros((1000, 2))}})
    assert len(env.family.sample_tasks(500, seed=0)) == 500
    assert len(calls) <= 1, f"{len(calls)} per-task validations"  # the family's own initial task only


def test_default_tasks_cycle_through_the_training_set():
    env = make_vec("metarl/PointRobot-v0", 250)
    train = env.task_set("train")
    goals = env.get_tasks()["goal"]
    for i in (0, 99, 100, 249):
        np.testing.assert_array_equal(goals[i].numpy(), train[i % len(train)]["goal"])


# ----- grid navigation: the goal is never the start cell or a neighbour --------------------------------
@pytest.mark.parametrize("goal", [[0, 0], [0, 1], [1, 0], [1, 1]])
def test_grid_navigation_rejects_goals_its_docs_exclude(goal):
    raises(ValueError, lambda: gym.make("metarl/GridNavigation-v0", task={"goal": goal}), "'goal'", "start cell",
           f"[{goal[0]} {goal[1]}]", "{0..4}^2")  # fmt: skip
    env = make_vec("metarl/GridNavigation-v0", 3)
    batch = np.array([[2, 2], [4, 0], goal])
    raises(ValueError, lambda: env.set_tasks({"goal": batch}), "task 2 of the batch", "start cell")


def test_grid_navigation_batch_checks_integers_and_keeps_valid_goals():
    env = make_vec("metarl/GridNavigation-v0", 3)
    raises(ValueError, lambda: env.set_tasks({"goal": np.array([[2.0, 2.0], [2.5, 3.0], [4.0, 4.0]])}),
           "'goal'", "not an integer", "task 1 of the batch")  # fmt: skip
    raises(ValueError, lambda: env.set_tasks({"goal": np.array([[2, 2], [2, 5], [4, 4]])}), "{0..4}^2", "task 1")
    env.set_tasks({"goal": np.array([[2, 0], [0, 2], [4, 4]])})
    assert len(gym.make("metarl/GridNavigation-v0").unwrapped.task_set("train")) == 21


# ----- scale --------------------------------------------------------------------------------------
def test_ten_million_point_robots_build_reset_and_step_vectorised():
    n = 10_000_000
    start = time.perf_counter()
    env = make_vec("metarl/PointRobot-v0", n, device="cpu")
    built = time.perf_counter() - start
    assert built < 5.0, f"building {n} sub-envs took {built:.1f} s"  # measured 0.15 s on 2 cores
    goals = env._tasks["goal"]
    train = env.family.task_set_batch("train")["goal"]
    np.testing.assert_array_equal(goals[[0, 123, n - 1]].numpy(), train[[0, 23, (n - 1) % 100]])
    env.reset(seed=0)
    obs, reward, *_ = env.step(torch.full((n, 2), 0.05))
    assert obs.shape == (n, 2) and reward.shape == (n,)
    raises(ValueError, lambda: env.step(torch.zeros(n * 2)), f"shape ({2 * n},)", f"({n}, 2)")


def test_too_many_sub_envs_are_refused_before_allocating(monkeypatch):
    monkeypatch.setattr(metarl.core.vector, "available_memory", lambda device: 100 * 2**20)  # 100 MiB
    for env_id in ("metarl/PointRobot-v0", "metarl/HalfCheetahVel-v0"):
        start = time.perf_counter()
        fragments = ("num_envs=10,000,000", "GiB", "0.10 GiB is available", "bytes per sub-env")
        raises(ValueError, lambda env_id=env_id: make_vec(env_id, 10_000_000), *fragments)
        assert time.perf_counter() - start < 5.0
    assert make_vec("metarl/PointRobot-v0", 1000).num_envs == 1000  # well under the limit


def test_available_memory_is_a_positive_figure_on_this_host():
    available = metarl.core.vector.available_memory(torch.device("cpu"))
    assert available is None or available > 0


# ----- CUDA: value checks are the only synchronisation of a step ------------------------------------------
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step_synchronises_only_for_the_value_checks():
    for check, synchronises in ((False, False), (True, True)):
        env = make_vec("metarl/PointRobot-v0", 64, device="cuda", check_actions=check)
        env.reset(seed=0)
        actions = torch.zeros(64, 2, device="cuda")
        env.step(actions)  # warm-up outside the debug mode
        torch.cuda.synchronize()
        torch.cuda.set_sync_debug_mode("error")
        try:
            if synchronises:
                with pytest.raises(RuntimeError, match="synchroniz"):
                    env.step(actions)
            else:
                env.step(actions)
        finally:
            torch.cuda.set_sync_debug_mode("default")
