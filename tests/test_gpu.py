"""CUDA checks of the batched faces: they run where a GPU is present (CI has none, so they skip)."""

import gymnasium as gym
import numpy as np
import pytest
import torch

import metarl  # noqa: F401  (registers the families)

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def make_vec(env_id, num_envs, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


@pytest.mark.parametrize("env_id", ["metarl/PointRobot-v0", "metarl/Navigation2D-v0", "metarl/GridNavigation-v0"])
def test_analytic_batched_env_on_cuda_equals_cpu(env_id):
    tasks = gym.make(env_id).unwrapped.task_set("test")[:8]
    cpu, gpu = make_vec(env_id, 8, tasks=tasks), make_vec(env_id, 8, tasks=tasks, device="cuda")
    obs_c, _ = cpu.reset(seed=0)
    obs_g, _ = gpu.reset(seed=0)
    cpu.action_space.seed(0)
    for _ in range(50):
        action = torch.as_tensor(cpu.action_space.sample())
        obs_c, r_c, *_ = cpu.step(action)
        obs_g, r_g, *_ = gpu.step(action.cuda())
        assert obs_g.device.type == "cuda"
        torch.testing.assert_close(obs_g.cpu(), obs_c, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(r_g.cpu(), r_c, atol=1e-5, rtol=1e-5)


def test_warp_on_cuda_one_step_matches_mujoco():
    pytest.importorskip("mujoco_warp")
    env_id = "metarl/HalfCheetahVel-v0"
    ref, warp = make_vec(env_id, 16, autoreset_mode="disabled"), make_vec(
        env_id, 16, autoreset_mode="disabled", backend="warp", device="cuda"
    )
    ref.reset(seed=0)
    warp.reset(seed=0)
    qpos, qvel = ref.get_sim_state()
    warp.set_sim_state(qpos, qvel)
    action = torch.as_tensor(np.random.default_rng(0).uniform(-1, 1, (16, 6)))
    for _ in range(3):  # the first calls compile and record the CUDA graph, later ones replay it
        ref.set_sim_state(qpos, qvel)
        warp.set_sim_state(qpos, qvel)
        obs_r, rew_r, *_ = ref.step(action)
        obs_w, rew_w, *_ = warp.step(action.cuda())
        assert obs_w.device.type == "cuda"
        np.testing.assert_allclose(obs_w.cpu().numpy(), obs_r.numpy(), atol=1e-4, rtol=1e-4)
        np.testing.assert_allclose(rew_w.cpu().numpy(), rew_r.numpy(), atol=1e-4, rtol=1e-4)
