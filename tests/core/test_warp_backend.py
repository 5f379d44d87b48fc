"""The ``warp`` backend (MuJoCo Warp, float32) against the ``mujoco`` backend (MuJoCo C, float64).

Runs on Warp's CPU device (as CI does; the first kernel compile takes a while, then Warp's cache
serves it). Tolerances, from measurements on the CPU device (see ``envs/mujoco/warp_backend.py``):

* one control step from the same state and action: HalfCheetahVel observations within 1.7e-6
  (abs), rewards 2e-7; Hopper 8e-7, Walker2d (feet on the floor) 2.7e-5. Asserted: 1e-4 abs +
  1e-4 rel. Ant standing on its legs: positions 6.6e-4, joint velocities 0.26 (of 7), rewards
  7e-3, because MuJoCo Warp orients capsule-plane contact tangents differently, which rotates
  the pyramidal friction cone; asserted loosely (positions 3e-3, velocities 10% of their scale,
  rewards 0.05, cfrc_ext 30% of its scale).
* returns of a fixed policy over 50 steps from the v5 reset distribution: float32 trajectories
  drift apart after tens of steps, so means are compared within a 4-sigma (Welch) interval
  (measured HalfCheetahVel: -97.609 vs -97.608, std 1.3, 16 worlds).
* graphs (Warp's CPU APIC graphs here, CUDA graphs on a GPU) replay the eager launches bit for bit.
"""

import gymnasium as gym
import numpy as np
import pytest
import torch

pytest.importorskip("mujoco_warp")

from metarl.envs.mujoco.warp_backend import WarpBackend, resolve_devices  # noqa: E402

import metarl  # noqa: E402,F401  (registers the families)


def make_vec(env_id, num_envs, backend, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", backend=backend, **kwargs)


def action_batch(env, n, seed):
    low, high = env.single_action_space.low, env.single_action_space.high
    return torch.as_tensor(np.random.default_rng(seed).uniform(low, high, (n, low.size)))


def synchronised_pair(env_id, n, warmup=0):
    """A ``mujoco`` and a ``warp`` env in the same state (after ``warmup`` zero-action steps of
    the former); returns both and their observations."""
    ref = make_vec(env_id, n, "mujoco", autoreset_mode="disabled", num_threads=1)
    warp = make_vec(env_id, n, "warp", autoreset_mode="disabled")
    assert warp.sim.dtype == torch.float32 and warp.sim.device == torch.device("cpu")
    ref.reset(seed=0)
    warp.reset(seed=0)
    for _ in range(warmup):
        ref.step(torch.zeros(n, ref.single_action_space.shape[0]))
    qpos, qvel = ref.get_sim_state()
    return ref, warp, ref.set_sim_state(qpos, qvel), warp.set_sim_state(qpos, qvel)


@pytest.mark.parametrize("env_id", ["metarl/HalfCheetahVel-v0", "metarl/HopperRandParams-v0", "metarl/Walker2dRandParams-v0"])
def test_one_step_from_the_same_state_matches_mujoco_c(env_id):
    """Few contacts (feet on the floor at most): float32 rounding only; measured errors <= 3e-5."""
    n, tol = 4, 1e-4
    ref, warp, obs_r, obs_w = synchronised_pair(env_id, n)
    np.testing.assert_allclose(obs_w.double().numpy(), obs_r.numpy(), rtol=tol, atol=tol)
    action = action_batch(ref, n, 1)
    obs_r, rew_r, term_r, _, _ = ref.step(action)
    obs_w, rew_w, term_w, _, _ = warp.step(action)
    assert obs_w.dtype == torch.float32
    np.testing.assert_allclose(obs_w.double().numpy(), obs_r.numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(rew_w.double().numpy(), rew_r.numpy(), rtol=tol, atol=tol)
    assert torch.equal(term_w, term_r)


def test_one_step_with_contacts_matches_mujoco_c_loosely():
    """Ant standing on its legs. MuJoCo Warp orients the tangent axes of a capsule-plane contact
    differently from MuJoCo C (e.g. (0, 1, 0) vs the capsule's direction), so the pyramidal
    friction cone is rotated and the contact forces differ: measured after one step, positions
    6.6e-4, joint velocities 0.26 (of 7), rewards 7e-3."""
    n = 4
    ref, warp, obs_r, obs_w = synchronised_pair("metarl/AntDir-v0", n, warmup=15)
    assert (ref.sim.data_field("cfrc_ext").abs().sum((1, 2)) > 1.0).all(), "the test wants contacts"
    np.testing.assert_allclose(obs_w.double().numpy(), obs_r.numpy(), rtol=1e-4, atol=1e-3)
    action = action_batch(ref, n, 1)
    obs_r, rew_r, term_r, _, _ = ref.step(action)
    obs_w, rew_w, term_w, _, _ = warp.step(action)
    obs_w = obs_w.double()
    np.testing.assert_allclose(obs_w[:, :13].numpy(), obs_r[:, :13].numpy(), atol=3e-3)  # qpos[2:]
    vel_scale = float(obs_r[:, 13:27].abs().max())
    np.testing.assert_allclose(obs_w[:, 13:27].numpy(), obs_r[:, 13:27].numpy(), atol=0.1 * vel_scale)
    np.testing.assert_allclose(rew_w.double().numpy(), rew_r.numpy(), atol=0.05)
    assert torch.equal(term_w, term_r)
    # cfrc_ext from the contact probe, at the start of the last substep, as MuJoCo C
    cr, cw = ref.sim.data_field("cfrc_ext"), warp.sim.data_field("cfrc_ext").double()
    assert torch.equal(cw.abs().sum((1, 2)) > 0, cr.abs().sum((1, 2)) > 0)  # the same worlds touch the floor
    np.testing.assert_allclose(cw.numpy(), cr.numpy(), atol=0.3 * float(cr.abs().max()))


@pytest.mark.parametrize("env_id", ["metarl/Walker2dRandParams-v0", "metarl/HopperRandParams-v0"])
def test_random_parameters_are_per_world_model_fields(env_id):
    family = gym.make(env_id).unwrapped
    tasks = family.sample_tasks(3, seed=1)
    env = make_vec(env_id, 3, "warp", tasks=tasks, autoreset_mode="disabled")
    fields = ("body_mass", "body_inertia", "geom_friction", "dof_damping")

    def check(i, task):
        single = gym.make(env_id, task=task).unwrapped.model
        for field in fields:
            value = env.sim.model_field(field, per_world=True)[i]
            np.testing.assert_allclose(value.double().numpy(), getattr(single, field), rtol=1e-6)

    for i, task in enumerate(tasks):
        check(i, task)
    # The per-world values live in the Warp model: the same state and action give different
    # motions under different tasks, and identical ones under the same task.
    env.reset(seed=0)
    qpos, qvel = env.get_sim_state()
    env.set_tasks([tasks[0], tasks[0], tasks[2]])
    env.set_sim_state(qpos[:1].expand(3, -1), qvel[:1].expand(3, -1))
    obs, *_ = env.step(torch.full((3, env.single_action_space.shape[0]), 0.5))
    assert torch.equal(obs[0], obs[1])
    assert not torch.allclose(obs[0], obs[2])
    check(1, tasks[0])


def test_forward_on_some_worlds_keeps_the_others_outputs():
    env = make_vec("metarl/AntDir-v0", 4, "warp", autoreset_mode="disabled")
    env.reset(seed=0)
    env.step(action_batch(env, 4, 0))
    xpos, cfrc = env.sim.data_field("xpos").clone(), env.sim.data_field("cfrc_ext").clone()
    qpos = env.sim.data_field("qpos").clone()
    env.reset(options={"reset_mask": np.array([False, True, False, False])})
    keep = [0, 2, 3]
    assert torch.equal(env.sim.data_field("xpos")[keep], xpos[keep])
    assert torch.equal(env.sim.data_field("cfrc_ext")[keep], cfrc[keep])
    assert torch.equal(env.sim.data_field("qpos")[keep], qpos[keep])
    assert not torch.equal(env.sim.data_field("xpos")[1], xpos[1])


def test_graphs_replay_the_eager_steps_bit_for_bit():
    model = gym.make("metarl/HopperRandParams-v0").unwrapped.model
    results = []
    for graphs in (False, True):
        sim = WarpBackend(model, 3, device="auto", graphs=graphs)
        assert sim.device == resolve_devices("auto")[0]
        ids = torch.arange(3)
        sim.reset(ids)
        sim.data_field("qpos")[:, 1] += torch.tensor([0.0, 0.01, 0.02])
        sim.forward(ids)
        for k in range(4):
            if k == 2:  # made per-world after the capture: the graphs are captured again
                mass = sim.model_field("body_mass", per_world=True)
                mass[1] *= 2.0
            sim.data_field("ctrl")[:] = 0.3 * (k + 1)
            sim.step(4)
        results.append(sim.data_field("qpos").clone())
    assert torch.equal(results[0], results[1])
    assert sim.model_field("body_mass", per_world=False).shape[0] == 3


@pytest.mark.parametrize("env_id", ["metarl/HalfCheetahVel-v0", "metarl/HopperRandParams-v0"])
def test_mean_return_of_a_fixed_policy_agrees_with_mujoco_c(env_id):
    n, steps = 16, 50
    returns = {}
    for backend in ("mujoco", "warp"):
        env = make_vec(env_id, n, backend, autoreset_mode="disabled", tasks=[gym.make(env_id).unwrapped.task_set("test")[0]] * n)
        env.reset(seed=3)
        total = torch.zeros(n, dtype=torch.float64)
        alive = torch.ones(n, dtype=torch.bool)
        dim = env.single_action_space.shape[0]
        phase = torch.arange(dim, dtype=torch.float64)
        for t in range(steps):
            action = 0.5 * torch.sin(0.3 * t + phase).expand(n, dim)
            _, reward, terminated, _, _ = env.step(action)
            total += torch.where(alive, reward.double(), 0.0)
            alive &= ~terminated
        returns[backend] = total
    r, w = returns["mujoco"], returns["warp"]
    bound = 4.0 * float(torch.sqrt(r.var() / n + w.var() / n)) + 1e-3 * float(r.abs().mean())
    assert abs(float(w.mean() - r.mean())) <= bound, (float(w.mean()), float(r.mean()), bound)
