"""Batched MuJoCo faces (``mujoco`` backend) against the single env: same task, state and actions."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl
from metarl.core.tasks import tasks_equal

MUJOCO = [f"metarl/{name}-v0" for name in metarl.envs.MUJOCO_FAMILIES]


def make_vec(env_id, num_envs, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def three_tasks(env_id):
    env = gym.make(env_id).unwrapped
    tasks = env.task_set("test")
    return [tasks[i % len(tasks)] for i in range(3)] if len(tasks) < 3 else tasks[:3]


def test_every_mujoco_family_has_a_batched_face():
    assert len(MUJOCO) == 7


@pytest.mark.parametrize("env_id", MUJOCO)
def test_each_world_equals_the_single_env_for_120_steps(env_id):
    """Three worlds on three tasks, synchronised initial states, the same actions: equal
    observations, rewards and terminations (resynchronising after each termination)."""
    tasks = three_tasks(env_id)
    batched = make_vec(env_id, 3, tasks=tasks, autoreset_mode="disabled", num_threads=2)
    singles = [gym.make(env_id, task=t).unwrapped for t in tasks]
    obs_b, _ = batched.reset(seed=0)

    def sync(i):
        qpos, qvel = batched.get_sim_state()
        singles[i].reset(seed=i)
        singles[i].set_state(qpos[i].numpy(), qvel[i].numpy())
        return singles[i]._get_obs()

    obs_s = [sync(i) for i in range(3)]
    rng = np.random.default_rng(0)
    low, high = singles[0].action_space.low, singles[0].action_space.high
    terminations = 0
    for _ in range(120):
        for i in range(3):
            np.testing.assert_allclose(obs_b[i].numpy(), obs_s[i], rtol=1e-6, atol=1e-7)
        actions = rng.uniform(low, high, (3, low.size))
        obs_b, r_b, term_b, _, _ = batched.step(torch.as_tensor(actions))
        for i in range(3):
            obs_s[i], r, term, _, _ = singles[i].step(actions[i])
            assert r_b[i].item() == pytest.approx(r, rel=1e-6, abs=1e-7)
            assert term_b[i].item() == term
        if term_b.any():
            terminations += int(term_b.sum())
            obs_b, _ = batched.reset(options={"reset_mask": term_b})
            for i in torch.nonzero(term_b).flatten().tolist():
                obs_s[i] = sync(i)
    if env_id in ("metarl/HopperRandParams-v0", "metarl/Walker2dRandParams-v0"):
        assert terminations > 0, "random actions should topple the walkers: the reset path went untested"


@pytest.mark.parametrize("env_id", ["metarl/HopperRandParams-v0", "metarl/Walker2dRandParams-v0"])
def test_random_parameters_are_per_world_model_fields(env_id):
    tasks = three_tasks(env_id)
    batched = make_vec(env_id, 3, tasks=tasks)
    for i, task in enumerate(tasks):
        single = gym.make(env_id, task=task).unwrapped
        world = batched.sim.batch.get_model(i)
        for field in ("body_mass", "body_inertia", "geom_friction", "dof_damping"):
            np.testing.assert_array_equal(getattr(world, field), getattr(single.model, field))
    new = gym.make(env_id).unwrapped.sample_tasks(1, seed=9)[0]
    batched.set_tasks([new], env_mask=[False, True, False])
    assert tasks_equal({k: v[1].numpy() for k, v in batched.get_tasks().items()}, new)
    np.testing.assert_array_equal(
        batched.sim.batch.get_model(1).body_mass, gym.make(env_id, task=new).unwrapped.model.body_mass
    )
    np.testing.assert_array_equal(
        batched.sim.batch.get_model(0).body_mass, gym.make(env_id, task=tasks[0]).unwrapped.model.body_mass
    )


@pytest.mark.parametrize("env_id", ["metarl/HalfCheetahVel-v0", "metarl/HumanoidDir-v0"])
def test_reset_noise_is_seeded_per_world_and_within_v5_bounds(env_id):
    single = gym.make(env_id).unwrapped
    env = make_vec(env_id, 256)
    env.reset(seed=1)
    qpos, qvel = env.get_sim_state()
    scale = single._reset_noise_scale
    offsets = qpos.numpy() - single.init_qpos
    assert np.abs(offsets).max() <= scale and offsets.std(axis=0).min() > scale / 4
    assert not torch.equal(qpos[0], qpos[1])
    again = make_vec(env_id, 256)
    again.reset(seed=1)
    assert torch.equal(again.get_sim_state()[0], qpos) and torch.equal(again.get_sim_state()[1], qvel)


def test_cheetah_vel_batched_reward_tracks_each_worlds_target():
    targets = torch.tensor([0.0, 1.0, 2.0, 3.0], dtype=torch.float64)
    env = make_vec("metarl/HalfCheetahVel-v0", 4, tasks={"velocity": targets})
    env.reset(seed=0)
    x0 = env.get_sim_state()[0][:, 0].clone()
    _, reward, *_ = env.step(torch.zeros(4, 6))
    vx = (env.get_sim_state()[0][:, 0] - x0) / 0.05
    torch.testing.assert_close(reward, -(vx - targets).abs())


def test_autoreset_keeps_tasks_and_truncates_at_the_horizon():
    env = make_vec("metarl/HalfCheetahDir-v0", 2, num_threads=1)
    tasks = env.get_tasks()
    env.reset(seed=0)
    for t in range(200):
        _, _, terminated, truncated, info = env.step(torch.zeros(2, 6))
    assert truncated.all() and not terminated.any() and info["_final_obs"].all()
    torch.testing.assert_close(env.get_tasks(), tasks)


def test_unknown_backend_is_an_error():
    with pytest.raises(ValueError, match=r"backend='jax' is not available; allowed: \['mujoco', 'warp'\]"):
        make_vec("metarl/HalfCheetahVel-v0", 2, backend="jax")
