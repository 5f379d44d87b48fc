"""Meta-World as metarl families: the mujoco-4 compatibility layer, benchmark splits and task
sets equal to Meta-World's own objects, both env checkers on each benchmark, Farama's experts
succeeding through our faces, and the generic batched face passing ``info["success"]`` through.
(The families' common contracts run in tests/core/test_envs.py on ML1-reach and ML10.)"""

import warnings

import gymnasium as gym
import mujoco
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from metarl.envs.metaworld import benchmarks, compat
from stable_baselines3.common.env_checker import check_env as sb3_check_env

metaworld = pytest.importorskip("metaworld", reason="Meta-World is installed by .ci/install.sh (see README)")
from metaworld import env_dict  # noqa: E402
from metaworld.policies import ENV_POLICY_MAP  # noqa: E402
from metaworld.sawyer_xyz_env import SawyerMocapBase  # noqa: E402


@pytest.fixture
def farama_on_this_mujoco(monkeypatch):
    """Meta-World's own benchmark objects, runnable here: its unmodified classes with our
    weld fix patched in for the test only (their task generation is what is compared)."""
    monkeypatch.setattr(SawyerMocapBase, "reset_mocap_welds", compat.reset_mocap_welds)


def test_class_names_and_splits_are_meta_worlds():
    assert benchmarks.CLASS_NAMES == tuple(env_dict.ALL_V3_ENVIRONMENTS)
    for name in ("ML10", "ML45"):
        split = getattr(env_dict, f"{name}_V3")
        bench = benchmarks.benchmark(name)
        assert (bench.train_classes, bench.test_classes) == (tuple(split["train"]), tuple(split["test"]))
        assert bench.partially_observable
    for name in ("MT10", "MT50"):
        bench = benchmarks.benchmark(name)
        assert bench.train_classes == tuple(getattr(env_dict, f"{name}_V3")) == bench.test_classes
        assert not bench.partially_observable
    assert len(benchmarks.benchmark("ML45").classes) == 50
    with pytest.raises(ValueError, match="unknown Meta-World class 'fly-v3'"):
        benchmarks.benchmark("ML1-fly")
    with pytest.raises(ValueError, match="unknown Meta-World benchmark 'ML7'"):
        benchmarks.benchmark("ML7")


def test_compat_layer_is_the_one_weld_fix_mujoco_4_needs():
    original = env_dict.ALL_V3_ENVIRONMENTS["reach-v3"]
    if mujoco.mjNEQDATA > 11:  # mujoco >= 4.0: Farama's unmodified class cannot be built
        with pytest.raises(ValueError, match="could not broadcast"):
            original()
    cls = compat.env_class("reach-v3")
    assert cls is compat.compatible(original) and issubclass(cls, original) and cls.__name__ == original.__name__
    assert {k for k in vars(cls) if not k.startswith("__")} == {"reset_mocap_welds"}
    env = cls()
    weld = env.model.eq_data[env.model.eq_type == mujoco.mjtEq.mjEQ_WELD][0]
    np.testing.assert_array_equal(weld[:11], compat.WELD_DATA)
    fresh = mujoco.MjModel.from_xml_path(env.model_name)  # the compiled model: entries past 11 untouched
    np.testing.assert_array_equal(weld[11:], fresh.eq_data[fresh.eq_type == mujoco.mjtEq.mjEQ_WELD][0][11:])
    with pytest.raises(ValueError, match="unknown Meta-World class 'reach-v9'"):
        compat.env_class("reach-v9")


def _rand_vecs(tasks):
    import pickle

    return [(t.env_name, pickle.loads(t.data)["rand_vec"]) for t in tasks]


def _assert_same(ours, theirs):
    assert [c for c, _ in ours] == [c for c, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs):
        np.testing.assert_array_equal(a, b)


def test_task_sets_equal_meta_worlds_benchmark_objects(farama_on_this_mujoco, tmp_path, monkeypatch):
    monkeypatch.setenv("METARL_CACHE_DIR", str(tmp_path))  # generated here, not read from a cache
    benchmarks.task_sets.cache_clear()
    ml1 = metaworld.ML1("push-v3", seed=3)
    ours = gym.make("metarl/ML1-push-v0", task_seed=3).unwrapped
    _assert_same(benchmarks.task_sets("ML1-push", 3)["train"], _rand_vecs(ml1.train_tasks))
    _assert_same(benchmarks.task_sets("ML1-push", 3)["test"], _rand_vecs(ml1.test_tasks))
    np.testing.assert_array_equal(ours.task_set_batch("test")["rand_vec"], [v for _, v in _rand_vecs(ml1.test_tasks)])
    ml10 = metaworld.ML10(seed=5)
    family = gym.make("metarl/ML10-v0", task_seed=5).unwrapped
    for split, theirs in (("train", ml10.train_tasks), ("test", ml10.test_tasks)):
        _assert_same(benchmarks.task_sets("ML10", 5)[split], _rand_vecs(theirs))
        assert family.task_classes(split) == [t.env_name for t in theirs]
        assert family.task_set_size(split) == len(theirs)
    first = family.task_set("train")[0]
    assert family.class_of(first) == "reach-v3" and benchmarks.first_task("ML10", 5)[0] == "reach-v3"
    np.testing.assert_array_equal(benchmarks.first_task("ML10", 5)[1], first["rand_vec"])
    assert list(tmp_path.rglob("tasks-*.npz")), "the generated sets are cached on disk"
    benchmarks.task_sets.cache_clear()
    _assert_same(benchmarks.task_sets("ML1-push", 3)["test"], _rand_vecs(ml1.test_tasks))  # read back from disk


@pytest.mark.parametrize("env_id", ["metarl/ML1-reach-v0", "metarl/ML10-v0", "metarl/ML45-v0", "metarl/MT10-v0",
                                    "metarl/MT50-v0"])  # fmt: skip
def test_both_env_checkers_pass_on_each_benchmark(env_id):
    env = gym.make(env_id).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=UserWarning)
        warnings.filterwarnings("ignore", message=".*infinity.*")
        gym_check_env(env, skip_render_check=True)  # rendering is Farama's (and needs a display)
    sb3_check_env(env, warn=False)
    obs, _ = env.reset(seed=0)
    goal_hidden = env_id.startswith("metarl/ML")
    assert obs.shape == (39,) and (not np.any(obs[-3:])) == goal_hidden
    _, _, _, _, info = env.step(env.action_space.sample())
    assert {"success", "near_object", "grasp_success", "unscaled_reward"} <= set(info)


def test_multi_class_tasks_switch_the_class_and_bad_tasks_are_refused():
    env = gym.make("metarl/ML10-v0").unwrapped
    assert env.class_names[:10] == env.benchmark.train_classes and len(env.class_names) == 15
    door = {"env_class": env.class_names.index("door-close-v3"), "rand_vec": np.zeros(6)}
    door["rand_vec"][:3] = env._probe("door-close-v3")._random_reset_space.low
    env.reset(options={"task": door})
    assert type(env.farama_env).__name__ == "SawyerDoorCloseEnvV3"
    assert env.task_group(env.get_task()) == "door-close-v3"
    padded = door["rand_vec"].copy()
    padded[4] = 0.1  # door-close's task is 3 numbers
    with pytest.raises(ValueError, match="rest must be 0"):
        env.set_task({**door, "rand_vec": padded})
    reach = env.class_names.index("reach-v3")
    with pytest.raises(ValueError, match="outside reach-v3's range"):
        env.set_task({"env_class": reach, "rand_vec": np.array([0.15, 0.65, 0.02, 0.0, 0.85, 0.2])})
    with pytest.raises(ValueError, match="rejects this goal"):  # goal xy 0.1 from the object: Farama would loop
        env.set_task({"env_class": reach, "rand_vec": np.array([0.0, 0.7, 0.02, 0.0, 0.8, 0.2])})
    assert env.task_group(env.get_task()) == "door-close-v3"
    sampled = env.sample_tasks(8, seed=0)
    assert all(int(t["env_class"]) < 10 for t in sampled), "sample_tasks draws from the training classes"
    for task in sampled:
        env.set_task(task)  # drawn through the class's own reset: accepted


def _expert_episode(env, task, steps=500):
    obs, _ = env.reset(options={"task": task})
    policy = ENV_POLICY_MAP[env.unwrapped.class_of(env.unwrapped.get_task())]()
    success, total = False, 0.0
    for _ in range(steps):
        obs, reward, terminated, truncated, info = env.step(np.clip(policy.get_action(obs), -1, 1))
        success, total = success or info["success"] > 0, total + reward
        if terminated or truncated:
            break
    return success, total


@pytest.mark.parametrize("benchmark", ["ML1-reach", "ML1-push"])
def test_farama_experts_succeed_on_our_single_env(benchmark):
    env = gym.make(f"metarl/{benchmark}-v0", partially_observable=False)
    results = [_expert_episode(env, task) for task in env.unwrapped.task_set("test")[:2]]
    assert all(success for success, _ in results), results


def test_an_episode_saved_mid_way_continues_exactly_in_a_fresh_env():
    """What an SB3 checkpoint keeps of a Meta-World sub-env: the episode continues bit for bit."""
    env = gym.make("metarl/ML1-pick-place-v0").unwrapped
    task = env.task_set("test")[3]
    env.reset(options={"task": task})
    rng = np.random.default_rng(0)
    for _ in range(30):
        env.step(rng.uniform(-1, 1, 4))
    state = env.episode_state()
    fresh = gym.make("metarl/ML1-pick-place-v0").unwrapped
    fresh.set_task(task)
    fresh.load_episode_state(state)
    for _ in range(30):
        action = rng.uniform(-1, 1, 4)
        a, b = env.step(action), fresh.step(action)
        np.testing.assert_array_equal(a[0], b[0])
        assert a[1:4] == b[1:4] and a[4] == b[4]
    with pytest.raises(ValueError, match="lacks"):
        fresh.load_episode_state({**state, "attributes": {**state["attributes"], "bogus": 1.0}})


def test_class_one_hot_observations_for_multi_task_agents():
    env = gym.make("metarl/MT10-v0", class_one_hot=True).unwrapped
    assert env.observation_space.shape == (49,)
    push = env.class_names.index("push-v3")
    task = next(t for t in env.task_set("train") if int(t["env_class"]) == push)
    obs, _ = env.reset(options={"task": task})
    np.testing.assert_array_equal(obs[39:], np.eye(10)[push])
    assert env.observation_space.contains(obs) and env.observation_space.contains(env.step(np.zeros(4))[0])
    with pytest.raises(ValueError, match="class_one_hot must be True or False"):
        gym.make("metarl/MT10-v0", class_one_hot="yes")
