"""The batched face of the multi-class Meta-World benchmarks (``MetaWorldBenchmarkVectorEnv``):
one batch per class, stepped together; each world equal to its class's one-class batch."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("metaworld")

from metarl.envs.metaworld.batched import batched_classes  # noqa: E402
from metarl.envs.metaworld.batched.benchmark_vector import MetaWorldBenchmarkVectorEnv, interleaved_tasks  # noqa: E402
from metarl.envs.metaworld.batched.vector import MetaWorldVectorEnv  # noqa: E402
from metarl.envs.metaworld.family import MetaWorldEnv  # noqa: E402

import metarl  # noqa: E402,F401  (registers the families)


def one_class_batch(env: MetaWorldBenchmarkVectorEnv, slots: torch.Tensor) -> MetaWorldVectorEnv:
    """The worlds ``slots`` of ``env`` (one class) alone in a one-class batch, on the same tasks."""
    tasks = env.get_tasks()
    name = env.family.class_names[int(tasks["env_class"][slots[0]])]
    return MetaWorldVectorEnv(num_envs=len(slots), benchmark="ML10", class_name=name, num_threads=1,
                              tasks={k: v[slots] for k, v in tasks.items()})  # fmt: skip


def test_default_tasks_take_the_training_classes_in_turn():
    family = MetaWorldEnv(benchmark="ML10")
    tasks = interleaved_tasks(family.task_set_batch("train"), 23)
    assert tasks["env_class"].tolist() == [i % 10 for i in range(23)]
    firsts = interleaved_tasks(family.task_set_batch("train"), 10)["rand_vec"]
    assert not np.array_equal(tasks["rand_vec"][10], firsts[0]), "the second round takes each class's next task"


def test_every_world_equals_its_class_alone_step_for_step():
    env = MetaWorldBenchmarkVectorEnv(num_envs=20, benchmark="ML10", num_threads=1, autoreset_mode="disabled")
    assert env.classes == {name: 2 for name in env.family.class_names[:10]}
    obs, _ = env.reset(seed=0)
    refs = {c: (slots, one_class_batch(env, slots)) for c, slots in env._slots.items()}
    for slots, ref in refs.values():
        assert torch.equal(ref.reset(seed=0)[0], obs[slots])
    rng = torch.Generator().manual_seed(0)
    for t in range(12):
        action = torch.rand(20, 4, generator=rng) * 2 - 1
        obs, reward, _, _, info = env.step(action)
        for slots, ref in refs.values():
            ref_obs, ref_reward, _, _, ref_info = ref.step(action[slots])
            assert torch.equal(ref_obs, obs[slots]) and torch.equal(ref_reward, reward[slots]), f"step {t}"
            assert torch.equal(ref_info["success"], info["success"][slots])
    assert {"success", "near_object", "obj_to_target"} <= set(info)


def test_set_tasks_across_classes_keeps_the_worlds_that_stay_and_restarts_the_others():
    env = MetaWorldBenchmarkVectorEnv(num_envs=4, benchmark="ML10", num_threads=1, autoreset_mode="disabled")
    twin = MetaWorldBenchmarkVectorEnv(num_envs=4, benchmark="ML10", num_threads=1, autoreset_mode="disabled")
    for e in (env, twin):
        e.reset(seed=0)
        for _ in range(5):
            e.step(torch.full((4, 4), 0.3))
    tasks = env.get_tasks()
    held_out = env.family.task_set_batch("test")  # other classes
    moved = {k: v.clone() for k, v in tasks.items()}
    for k in moved:
        moved[k][1] = torch.as_tensor(held_out[k][0]).to(moved[k])
    env.set_tasks(moved)
    assert env._elapsed.tolist() == [5, 0, 5, 5], "the moved world starts a new episode, the others go on"
    new_class = env.family.class_names[int(held_out["env_class"][0])]
    assert env.classes[new_class] == 1 and sum(env.classes.values()) == 4
    alone = MetaWorldVectorEnv(num_envs=1, benchmark="ML10", class_name=new_class, num_threads=1,
                               tasks={k: torch.as_tensor(v[:1]) for k, v in held_out.items()})  # fmt: skip
    start, _ = alone.reset(seed=0)
    assert torch.equal(env._observe()[1], start[0])
    obs, reward, *_ = env.step(torch.full((4, 4), -0.2))
    twin_obs, twin_reward, *_ = twin.step(torch.full((4, 4), -0.2))
    stayed = [0, 2, 3]
    assert torch.equal(obs[stayed], twin_obs[stayed]) and torch.equal(reward[stayed], twin_reward[stayed])
    assert torch.equal(obs[1], alone.step(torch.full((1, 4), -0.2))[0][0])


def test_class_one_hot_follows_the_single_env():
    env = MetaWorldBenchmarkVectorEnv(num_envs=3, benchmark="ML10", num_threads=1, class_one_hot=True)
    obs, _ = env.reset(seed=0)
    single = MetaWorldEnv(benchmark="ML10", class_one_hot=True)
    assert obs.shape == (3, 39 + 15) == (3, *single.observation_space.shape)
    for i in range(3):
        single.set_task({k: v[i].numpy() for k, v in env.get_tasks().items()})
        single_obs, _ = single.reset(seed=0)
        np.testing.assert_array_equal(obs[i, 39:].numpy(), single_obs[39:])


def test_make_vec_builds_the_benchmark_face():
    env = gym.make_vec("metarl/ML10-v0", num_envs=2, vectorization_mode="vector_entry_point", num_threads=1)
    assert isinstance(env, MetaWorldBenchmarkVectorEnv)


def test_stick_push_runs_natively_beside_other_classes():
    """All 50 classes are batched (stick-push with its contact sensors): its worlds in ML45 form a
    native group and equal stick-push's own batch."""
    assert len(batched_classes()) == 50
    family = MetaWorldEnv(benchmark="ML45")
    train = family.task_set_batch("train")
    names = family.class_names
    rows = [int(np.flatnonzero(train["env_class"] == names.index(c))[i]) for c in ("stick-push-v3", "reach-v3")
            for i in (0, 1)]  # fmt: skip
    tasks = {k: np.asarray(v)[rows] for k, v in train.items()}
    env = MetaWorldBenchmarkVectorEnv(num_envs=4, benchmark="ML45", tasks=tasks, num_threads=1,
                                      autoreset_mode="disabled")  # fmt: skip
    assert env.classes == {"reach-v3": 2, "stick-push-v3": 2}
    assert all(isinstance(group, MetaWorldVectorEnv) for group in env._groups.values())
    slots = env._slots[names.index("stick-push-v3")]
    ref = MetaWorldVectorEnv(num_envs=2, benchmark="ML45", class_name="stick-push-v3", num_threads=1,
                             tasks={k: v[slots] for k, v in env.get_tasks().items()})  # fmt: skip
    obs, _ = env.reset(seed=0)
    assert torch.equal(ref.reset(seed=0)[0], obs[slots])
    rng = torch.Generator().manual_seed(0)
    for t in range(5):
        action = torch.rand(4, 4, generator=rng) * 2 - 1
        obs, reward, _, _, info = env.step(action)
        ref_obs, ref_reward, _, _, ref_info = ref.step(action[slots])
        assert torch.equal(ref_obs, obs[slots]) and torch.equal(ref_reward, reward[slots]), f"step {t}"
        for key in ("success", "grasp_success"):
            assert torch.equal(ref_info[key], info[key][slots]), f"info[{key!r}] at step {t}"


def test_warp_backend_agrees_with_mujoco():
    """The face on MuJoCo Warp (float32): tasks stay exact (float64: float32 would round a bound
    such as 0.02 out of its class's box), results in float32 within the Warp tolerances. Two classes
    whose Warp models the suite compiles anyway (test_metaworld_batched.py's WARP_CLASSES)."""
    pytest.importorskip("mujoco_warp")
    family = MetaWorldEnv(benchmark="ML10")
    train = family.task_set_batch("train")
    names = family.class_names
    rows = [int(np.flatnonzero(train["env_class"] == names.index(c))[0]) for c in ("reach-v3", "door-open-v3")] * 2
    tasks = {k: np.asarray(v)[rows] for k, v in train.items()}
    kwargs = dict(num_envs=4, benchmark="ML10", tasks=tasks, autoreset_mode="disabled")
    warp = MetaWorldBenchmarkVectorEnv(backend="warp", **kwargs)
    ref = MetaWorldBenchmarkVectorEnv(backend="mujoco", num_threads=1, **kwargs)
    assert warp.classes == {"reach-v3": 2, "door-open-v3": 2}
    assert warp.get_tasks()["rand_vec"].dtype == torch.float64
    obs_w, _ = warp.reset(seed=0)
    obs_r, _ = ref.reset(seed=0)
    assert obs_w.dtype == torch.float32
    rng = torch.Generator().manual_seed(0)
    for _ in range(5):
        action = torch.rand(4, 4, generator=rng) * 2 - 1
        obs_w, rew_w, *_ = warp.step(action)
        obs_r, rew_r, *_ = ref.step(action)
    assert (obs_w.double() - obs_r).abs().max() < 3e-3 and (rew_w.double() - rew_r).abs().max() < 2e-2
