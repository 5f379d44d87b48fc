"""The batched face of the multi-class Meta-World benchmarks (``MetaWorldBenchmarkVectorEnv``):
one batch per class, stepped together; each world equal to its class's one-class batch."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("metaworld")

import metarl  # noqa: E402,F401  (registers the families)
from metarl.core.generic_vector import GenericVectorEnv  # noqa: E402
from metarl.envs.metaworld.batched import benchmark_vector  # noqa: E402
from metarl.envs.metaworld.batched.benchmark_vector import MetaWorldBenchmarkVectorEnv, interleaved_tasks  # noqa: E402
from metarl.envs.metaworld.batched.vector import MetaWorldVectorEnv  # noqa: E402
from metarl.envs.metaworld.family import MetaWorldEnv  # noqa: E402


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


def test_make_vec_is_native_when_every_class_is_batched_else_generic(monkeypatch):
    native = gym.make_vec("metarl/ML10-v0", num_envs=2, vectorization_mode="vector_entry_point", num_threads=1)
    assert isinstance(native, MetaWorldBenchmarkVectorEnv)
    monkeypatch.setattr(benchmark_vector, "batched_classes", lambda: ("reach-v3",))
    generic = gym.make_vec("metarl/ML10-v0", num_envs=2, vectorization_mode="vector_entry_point", workers=0)
    assert isinstance(generic, GenericVectorEnv)
    with pytest.raises(ValueError, match="have no batched face yet"):
        MetaWorldBenchmarkVectorEnv(num_envs=2, benchmark="ML10")
