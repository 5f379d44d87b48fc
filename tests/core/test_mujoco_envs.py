"""MuJoCo task-distributed families: env checks, rewards and terminations recomputed from the
simulator state, task validation, seeding, task switching and the batched definitions."""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import metarl.envs  # noqa: F401  (registers the families)
import mujoco
import numpy as np
import pytest
import torch
from gymnasium.envs.mujoco.ant_v5 import AntEnv
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv
from gymnasium.utils.env_checker import check_env as gym_check_env
from metarl.envs.mujoco.base import CONTACT_PROBE, compile_with_contact_probe
from metarl.envs.mujoco.definitions import RAND_PARAM_FIELDS, SimState, reset_noise
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from metarl.core.tasks import tasks_to_tensors

NAMES = [
    "HalfCheetahVel", "HalfCheetahDir", "AntDir", "AntGoal", "HumanoidDir", "Walker2dRandParams", "HopperRandParams",
]  # fmt: skip
RAND_PARAMS = ["Walker2dRandParams", "HopperRandParams"]


def make(name: str, **kwargs: Any) -> Any:
    """The registered env, unwrapped (tests read its simulator state)."""
    return gym.make(f"metarl/{name}-v0", **kwargs).unwrapped


# ----- numpy oracles: the families' definitions recomputed independently from MjData ------------
def ctrl(action: np.ndarray, weight: float) -> float:
    return weight * float(np.sum(np.square(action, dtype=np.float64)))


def ant_contact(data: Any) -> float:
    return 5e-4 * float(np.sum(np.square(np.clip(data.cfrc_ext, -1, 1))))


def mass_center(env: Any) -> np.ndarray:
    m = env.model.body_mass
    return (m[:, None] * env.data.xipos).sum(0)[:2] / m.sum()


def capture(env: Any) -> dict[str, np.ndarray]:
    return {
        "x": env.data.qpos[0].copy(),
        "torso_xy": env.data.body("torso").xpos[:2].copy(),
        "com": mass_center(env) if env.model.nbody > 10 else None,
    }


def oracle(name: str, env: Any, before: dict, action: np.ndarray) -> tuple[float, bool]:
    """(reward, terminated) of ``name`` after ``env`` stepped from ``before`` with ``action``."""
    d, task, dt = env.data, env.get_task(), env.dt
    qpos = d.qpos
    if name in ("HalfCheetahVel", "HalfCheetahDir", "Walker2dRandParams", "HopperRandParams"):
        vx = (qpos[0] - before["x"]) / dt
    if name == "HalfCheetahVel":
        return -abs(vx - float(task["velocity"])) - ctrl(action, 0.05), False
    if name == "HalfCheetahDir":
        return float(task["direction"]) * vx - ctrl(action, 0.05), False
    if name == "AntDir":
        v = (d.body("torso").xpos[:2] - before["torso_xy"]) / dt
        a = float(task["direction"])
        r = v[0] * np.cos(a) + v[1] * np.sin(a) - ctrl(action, 0.5) - ant_contact(d) + 1.0
        healthy = np.isfinite(env.state_vector()).all() and 0.2 <= qpos[2] <= 1.0
        return r, not healthy
    if name == "AntGoal":
        dist = np.abs(d.body("torso").xpos[:2] - task["goal"]).sum()
        return -dist - ctrl(action, 0.1) - ant_contact(d), False
    if name == "HumanoidDir":
        v = (mass_center(env) - before["com"]) / dt
        a = float(task["direction"])
        contact = min(5e-7 * float(np.sum(np.square(d.cfrc_ext))), 10.0)
        r = 1.25 * (v[0] * np.cos(a) + v[1] * np.sin(a)) - ctrl(d.ctrl, 0.1) - contact + 5.0
        return r, not (1.0 < qpos[2] < 2.0)
    r = vx + 1.0 - ctrl(action, 1e-3)
    z, angle = qpos[1], qpos[2]
    if name == "Walker2dRandParams":
        return r, not (0.8 < z < 2.0 and -1.0 < angle < 1.0)
    state = env.state_vector()[2:]
    return r, not (np.all((state > -100) & (state < 100)) and z > 0.7 and -0.2 < angle < 0.2)


def oracle_obs(name: str, env: Any) -> np.ndarray:
    """Observation from the gymnasium v5 class's own ``_get_obs`` (AntGoal: with x, y kept)."""
    if name == "AntGoal":
        d = env.data
        return np.concatenate((d.qpos, d.qvel, np.clip(d.cfrc_ext[1:], -1, 1).ravel()))
    v5 = {
        "HalfCheetahVel": HalfCheetahEnv, "HalfCheetahDir": HalfCheetahEnv, "AntDir": AntEnv,
        "HumanoidDir": HumanoidEnv, "Walker2dRandParams": Walker2dEnv, "HopperRandParams": HopperEnv,
    }[name]  # fmt: skip
    return v5._get_obs(env)


# ----- env checkers --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_env_checkers(name: str) -> None:
    env = make(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unbounded observation boxes, Humanoid's [-0.4, 0.4] actions
        # Rendering is skipped: "human" mode opens a window, which aborts on a headless machine.
        gym_check_env(env, skip_render_check=True)
        sb3_check_env(env)
    assert env.observation_space.dtype == np.float64
    assert type(env).trial_episodes == 2 and type(env).reference
    assert type(env).__doc__ and "Deviations" in (type(env).__doc__ + (type(env).__mro__[1].__doc__ or ""))


@pytest.mark.parametrize(
    ("name", "obs_dim"),
    [("HalfCheetahVel", 17), ("HalfCheetahDir", 17), ("AntDir", 105), ("AntGoal", 107), ("HumanoidDir", 348),
     ("Walker2dRandParams", 17), ("HopperRandParams", 11)],
)  # fmt: skip
def test_observation_sizes(name: str, obs_dim: int) -> None:
    assert make(name).observation_space.shape == (obs_dim,)


# ----- rewards, terminations and observations from the simulator state ---------------------------
TASKS: dict[str, Callable[[Any], dict]] = {
    "HalfCheetahVel": lambda env: {"velocity": 1.3},
    "HalfCheetahDir": lambda env: {"direction": -1.0},
    "AntDir": lambda env: {"direction": np.pi},
    "AntGoal": lambda env: {"goal": [1.5, -2.0]},
    "HumanoidDir": lambda env: {"direction": 2.0},
    "Walker2dRandParams": lambda env: env.sample_tasks(1, seed=5)[0],
    "HopperRandParams": lambda env: env.sample_tasks(1, seed=5)[0],
}


@pytest.mark.parametrize("name", NAMES)
def test_reward_termination_observation_match_simulator_state(name: str) -> None:
    env = make(name)
    env.set_task(TASKS[name](env))
    obs, _ = env.reset(seed=3)
    np.testing.assert_allclose(obs, oracle_obs(name, env), rtol=0, atol=1e-12)
    rng = np.random.default_rng(0)
    terminations = 0
    for _ in range(40):
        action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        before = capture(env)
        obs, reward, terminated, truncated, info = env.step(action)
        expected_reward, expected_terminated = oracle(name, env, before, action)
        assert reward == pytest.approx(expected_reward, rel=1e-9, abs=1e-9)
        assert terminated == expected_terminated
        assert not truncated
        assert sum(info.values()) == pytest.approx(reward, abs=1e-9)
        np.testing.assert_allclose(obs, oracle_obs(name, env), rtol=0, atol=1e-12)
        if terminated:
            terminations += 1
            env.reset()
    if name in ("HalfCheetahVel", "HalfCheetahDir", "AntGoal"):
        assert terminations == 0


@pytest.mark.parametrize(
    ("name", "z_index", "bad_z"),
    [("AntDir", 2, 1.6), ("HumanoidDir", 2, 2.5), ("Walker2dRandParams", 1, 2.5), ("HopperRandParams", 2, 0.5)],
)
def test_unhealthy_state_terminates(name: str, z_index: int, bad_z: float) -> None:
    env = make(name)
    env.reset(seed=0)
    qpos = env.data.qpos.copy()
    qpos[z_index] = bad_z  # too high (or, for the hopper, a torso angle beyond 0.2)
    env.set_state(qpos, np.zeros(env.model.nv))
    _, _, terminated, _, _ = env.step(np.zeros(env.action_space.shape, np.float32))
    assert terminated


def test_ant_goal_never_terminates_and_survive_reward_option() -> None:
    env = make("AntGoal", task={"goal": [0.0, 0.0]})
    env.reset(seed=0)
    qpos = env.data.qpos.copy()
    qpos[2] = 1.6  # would end an ant-dir episode
    env.set_state(qpos, np.zeros(env.model.nv))
    zero = np.zeros(8, np.float32)
    _, reward0, terminated, _, _ = env.step(zero)
    assert not terminated
    bonus = make("AntGoal", task={"goal": [0.0, 0.0]}, survive_reward=1.0)
    bonus.reset(seed=0)
    bonus.set_state(qpos, np.zeros(bonus.model.nv))
    _, reward1, _, _, _ = bonus.step(zero)
    assert reward1 == pytest.approx(reward0 + 1.0)


#: Where the contact forces start in the observation of the families that read cfrc_ext.
CONTACT_OBS_START = {"AntDir": 27, "AntGoal": 29, "HumanoidDir": 270}
CONTACT_FAMILIES = list(CONTACT_OBS_START)


@pytest.mark.parametrize(
    ("name", "v5_id"),
    [("AntDir", "Ant-v5"), ("HumanoidDir", "Humanoid-v5"), ("Walker2dRandParams", "Walker2d-v5"),
     ("HopperRandParams", "Hopper-v5")],
)  # fmt: skip
def test_default_task_reproduces_gymnasium_v5(name: str, v5_id: str) -> None:
    # With the task that makes the family's reward v5's (direction 0, all scales 1), the family
    # is gymnasium's v5 env: same model, frame skip, reset noise, trajectory, observations and
    # rewards, except for the contact forces of the families that read them (cfrc_ext from
    # mj_forward, not v5's post-step mj_rnePostConstraint: checked independently below).
    env = make(name)
    ref = gym.make(v5_id).unwrapped
    if name in RAND_PARAMS:
        task = {k: np.ones(space.shape) for k, space in env.task_space.spaces.items()}
    else:
        task = {"direction": 0.0}
    obs, _ = env.reset(seed=5, options={"task": task})
    ref_obs, _ = ref.reset(seed=5)
    np.testing.assert_array_equal(obs, ref_obs)
    contact = slice(CONTACT_OBS_START.get(name, obs.shape[0]), None)
    rng = np.random.default_rng(2)
    for _ in range(30):
        action = rng.uniform(ref.action_space.low, ref.action_space.high).astype(np.float32)
        obs, reward, terminated, _, info = env.step(action)
        ref_obs, ref_reward, ref_terminated, _, ref_info = ref.step(action)
        np.testing.assert_array_equal(env.data.qpos, ref.data.qpos)
        np.testing.assert_array_equal(env.data.qvel, ref.data.qvel)
        np.testing.assert_allclose(obs[: contact.start], ref_obs[: contact.start], rtol=0, atol=1e-12)
        assert obs.shape == ref_obs.shape
        assert terminated == ref_terminated
        if terminated:  # v5 pays no survive bonus on the terminal step; the references do
            break
        # v5 sums float32 actions in float32
        assert reward - info.get("reward_contact", 0.0) == pytest.approx(ref_reward - ref_info.get("reward_contact", 0.0), abs=1e-6)
        if name not in CONTACT_OBS_START:
            np.testing.assert_array_equal(obs, ref_obs)
            assert reward == pytest.approx(ref_reward, abs=1e-6)


# ----- contact forces: MuJoCo's value from mj_forward at the start of the last substep ------------
def _contact_parts(name: str, cfrc_ext: np.ndarray) -> tuple[np.ndarray, float]:
    """(contact part of the observation, contact reward term) of ``name`` from ``cfrc_ext``."""
    if name == "HumanoidDir":
        return cfrc_ext[1:].ravel(), -min(5e-7 * float(np.sum(np.square(cfrc_ext))), 10.0)
    clipped = np.clip(cfrc_ext, -1.0, 1.0)
    return clipped[1:].ravel(), -5e-4 * float(np.sum(np.square(clipped)))


@pytest.mark.parametrize("name", CONTACT_FAMILIES)
def test_contact_forces_are_mj_forward_values_at_last_substep(name: str) -> None:
    # Independent oracle: gymnasium's original model (no probe) in a separate MjData, set to the
    # env's full integration state, steps frame_skip - 1 substeps, then mj_forward and
    # mj_rnePostConstraint at the start of the last substep give the expected cfrc_ext.
    env = make(name)
    assert env.needs_contact_forces and env.definition.needs_contact_forces
    original = mujoco.MjModel.from_xml_path(env.fullpath)
    data = mujoco.MjData(original)
    spec = mujoco.mjtState.mjSTATE_INTEGRATION
    state = np.empty(mujoco.mj_stateSize(env.model, spec))
    assert state.shape == (mujoco.mj_stateSize(original, spec),)
    env.reset(seed=7, options={"task": env.sample_tasks(1, seed=0)[0]})
    rng = np.random.default_rng(3)
    contact = slice(CONTACT_OBS_START[name], None)
    v5_difference, steps, contact_steps = 0.0, 0, 0
    for _ in range(40):
        action = rng.uniform(env.action_space.low, env.action_space.high).astype(np.float32)
        mujoco.mj_getState(env.model, env.data, state, spec)
        mujoco.mj_setState(original, data, state, spec)
        data.ctrl[:] = action
        mujoco.mj_step(original, data, nstep=env.frame_skip - 1)
        mujoco.mj_forward(original, data)
        mujoco.mj_rnePostConstraint(original, data)
        expected = data.cfrc_ext.copy()
        contact_steps += bool(np.any(expected))
        expected_obs, expected_reward = _contact_parts(name, expected)

        obs, _, terminated, _, info = env.step(action)
        np.testing.assert_allclose(env.data.cfrc_ext, expected, rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(obs[contact], expected_obs, rtol=1e-12, atol=1e-9)
        assert info["reward_contact"] == pytest.approx(expected_reward, rel=1e-12, abs=1e-12)

        # Gymnasium v5's value (mj_rnePostConstraint after the last substep) is another one.
        mujoco.mj_step(original, data)
        np.testing.assert_array_equal(data.qpos, env.data.qpos)
        mujoco.mj_rnePostConstraint(original, data)
        v5_obs, _ = _contact_parts(name, data.cfrc_ext)
        v5_difference = max(v5_difference, float(np.abs(v5_obs - obs[contact]).max()))
        steps += 1
        if terminated:
            break
    assert steps >= 10 and contact_steps >= 3
    assert v5_difference > 1e-3  # the check above tells the two definitions apart


@pytest.mark.parametrize("name", NAMES)
def test_contact_probe_keeps_trajectory_bit_identical(name: str) -> None:
    env = make(name)
    original = mujoco.MjModel.from_xml_path(env.fullpath)
    if not env.needs_contact_forces:  # gymnasium's model and stepping, unchanged
        assert not env.definition.needs_contact_forces and env.model.nsensor == 0
        return
    probe = compile_with_contact_probe(env.fullpath)
    assert probe.nsensor == 1 and probe.sensor(CONTACT_PROBE).type == mujoco.mjtSensor.mjSENS_ACCELEROMETER
    assert probe.sensor(CONTACT_PROBE).objid == probe.site(CONTACT_PROBE).id
    assert probe.site(CONTACT_PROBE).bodyid == 1  # the first body under the world body
    assert env.model.nsensor == 1 and env.model.sensor(CONTACT_PROBE).objid == env.model.site(CONTACT_PROBE).id
    for field in ("nq", "nv", "nu", "nbody", "ngeom", "na"):
        assert getattr(probe, field) == getattr(original, field)
    datas = [mujoco.MjData(probe), mujoco.MjData(original)]
    rng = np.random.default_rng(0)
    qpos = original.qpos0 + rng.uniform(-0.1, 0.1, original.nq)
    qvel = rng.normal(0.0, 0.1, original.nv)
    for d in datas:
        d.qpos[:], d.qvel[:] = qpos, qvel
    low, high = original.actuator_ctrlrange.T
    for _ in range(60):
        ctrl = rng.uniform(low, high)
        for model, d in zip((probe, original), datas):
            d.ctrl[:] = ctrl
            mujoco.mj_step(model, d, nstep=env.frame_skip)
        np.testing.assert_array_equal(datas[0].qpos, datas[1].qpos)
        np.testing.assert_array_equal(datas[0].qvel, datas[1].qvel)
        np.testing.assert_array_equal(datas[0].qacc_warmstart, datas[1].qacc_warmstart)
    assert np.abs(datas[0].cfrc_ext).max() > 0  # the probe made mj_forward compute contact forces
    assert not np.any(datas[1].cfrc_ext)  # without it, mj_step alone leaves them at zero


# ----- reset noise in torch (shared with the batched face) ---------------------------------------
@pytest.mark.parametrize(
    ("name", "kind", "scale"),
    [("HalfCheetahVel", "normal", 0.1), ("HalfCheetahDir", "normal", 0.1), ("AntDir", "normal", 0.1),
     ("AntGoal", "normal", 0.1), ("HumanoidDir", "uniform", 1e-2), ("Walker2dRandParams", "uniform", 5e-3),
     ("HopperRandParams", "uniform", 5e-3)],
)  # fmt: skip
def test_torch_reset_noise_matches_v5_distribution(name: str, kind: str, scale: float) -> None:
    env = make(name)
    assert type(env).qvel_reset_noise == kind and env.reset_noise_scale == scale
    n = 4000
    # gymnasium's own reset (np_random), the reference
    env.reset(seed=0)
    v5 = [], []
    for _ in range(n):
        env.reset()
        v5[0].append(env.data.qpos.copy())
        v5[1].append(env.data.qvel.copy())
    v5_qpos, v5_qvel = np.stack(v5[0]), np.stack(v5[1])
    qpos, qvel = env.sample_reset_states(n, torch.Generator().manual_seed(0))
    assert qpos.dtype == qvel.dtype == torch.float64
    assert qpos.shape == (n, env.model.nq) and qvel.shape == (n, env.model.nv)
    again = reset_noise(env.init_qpos, env.init_qvel, scale, kind, n, torch.Generator().manual_seed(0))
    assert torch.equal(again[0], qpos) and torch.equal(again[1], qvel)
    uniform_std, normal_std = scale / np.sqrt(3.0), scale
    for samples in ((v5_qpos, v5_qvel), (qpos.numpy(), qvel.numpy())):
        for x, init, noise in ((samples[0], env.init_qpos, "uniform"), (samples[1], env.init_qvel, kind)):
            dev = x - init
            std = uniform_std if noise == "uniform" else normal_std
            assert np.all(np.abs(dev.mean(0)) < 5 * std / np.sqrt(n))
            np.testing.assert_allclose(dev.std(0), std, rtol=0.06)
            if noise == "uniform":
                assert dev.min() >= -scale and dev.max() <= scale
                assert dev.min() < -0.99 * scale and dev.max() > 0.99 * scale
            else:
                assert np.abs(dev).max() > 3 * scale  # unbounded tails
    with pytest.raises(ValueError, match="qvel_noise"):
        reset_noise(env.init_qpos, env.init_qvel, scale, "laplace", 1, torch.Generator())  # type: ignore[arg-type]


# ----- random physical parameters --------------------------------------------------------------
@pytest.mark.parametrize("name", RAND_PARAMS)
def test_rand_params_model_fields(name: str) -> None:
    env = make(name)
    defaults = env.default_parameters
    for field, (param, _) in RAND_PARAM_FIELDS.items():
        assert env.task_space[param].shape == defaults[field].shape
    for task in env.sample_tasks(3, seed=11):
        env.set_task(task)
        env.reset(seed=0)  # a reset keeps the task's parameters
        for field, (param, _) in RAND_PARAM_FIELDS.items():
            np.testing.assert_allclose(getattr(env.model, field), defaults[field] * task[param], rtol=1e-15)
    np.testing.assert_array_equal(env.default_parameters["body_mass"], defaults["body_mass"])


@pytest.mark.parametrize("name", RAND_PARAMS)
def test_rand_params_tasks_change_dynamics(name: str) -> None:
    env = make(name)
    actions = np.random.default_rng(0).uniform(-1, 1, (10, *env.action_space.shape)).astype(np.float32)

    def rollout(task: dict) -> np.ndarray:
        env.reset(seed=4, options={"task": task})
        return np.stack([env.step(a)[0] for a in actions])

    a, b = env.sample_tasks(2, seed=1)
    assert not np.allclose(rollout(a), rollout(b))
    np.testing.assert_array_equal(rollout(a), rollout(a))


def test_rand_params_sampling_covers_every_element() -> None:
    env = make("Walker2dRandParams")
    tasks = env.sample_tasks(200, seed=0)
    mass = np.stack([t["body_mass_scale"] for t in tasks])
    damping = np.stack([t["dof_damping_scale"] for t in tasks])
    # Every element (world body and root dofs included, as rand_param_envs) draws its own
    # log-uniform multiplier: log_base(scale) ~ U[-3, 3] with mean 0 and variance 3.
    for scales, base in ((mass, 1.5), (damping, 1.3)):
        u = np.log(scales) / np.log(base)
        assert u.min() >= -3 and u.max() <= 3
        assert np.all(np.abs(u.mean(0)) < 0.5) and np.all(np.abs(u.var(0) - 3) < 1)
        assert not np.allclose(u[:, 0], u[:, 1])


# ----- task validation ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "kwargs", "task", "words"),
    [
        ("HalfCheetahVel", {}, {"velocity": 5.5}, ["'velocity'", "5.5", "[0, 5]"]),
        ("HalfCheetahVel", {}, {"velocity": -0.1}, ["'velocity'", "[0, 5]"]),
        ("HalfCheetahVel", {}, {"velocity": [1.0, 2.0]}, ["'velocity'", "shape"]),
        ("HalfCheetahVel", {}, {"speed": 1.0}, ["speed", "velocity"]),
        ("HalfCheetahDir", {}, {"direction": 0.5}, ["'direction'", "0.5", "1.0", "-1.0"]),
        ("HalfCheetahDir", {}, {"direction": 2.0}, ["'direction'", "[-1, 1]"]),
        ("AntDir", {}, {"direction": 1.0}, ["'direction'", "forward_backward", "3.14159"]),
        ("AntDir", {"directions": "continuous"}, {"direction": 7.0}, ["'direction'", "[0, 6.28319]"]),
        ("AntGoal", {}, {"goal": [1.0, 2.0, 3.0]}, ["'goal'", "shape", "(2,)"]),
        ("AntGoal", {}, {"goal": [4.5, 0.0]}, ["'goal'", "[-4, 4]"]),
        ("HumanoidDir", {}, {"direction": float("nan")}, ["'direction'", "finite"]),
        ("Walker2dRandParams", {}, "wrong_shape", ["'body_mass_scale'", "shape", "(8,)"]),
        ("HopperRandParams", {}, "too_heavy", ["'body_mass_scale'", "[0.296296, 3.375]"]),
    ],
)  # fmt: skip
def test_invalid_tasks_are_rejected(name: str, kwargs: dict, task: Any, words: list[str]) -> None:
    env = make(name, **kwargs)
    if task == "wrong_shape":
        task = {**env.get_task(), "body_mass_scale": np.ones(3)}
    elif task == "too_heavy":
        task = {**env.get_task(), "body_mass_scale": np.full(5, 10.0)}
    before = env.get_task()
    with pytest.raises(ValueError) as err:
        env.set_task(task)
    for word in words:
        assert word in str(err.value)
    assert all(np.array_equal(before[k], v) for k, v in env.get_task().items())  # unchanged
    with pytest.raises(ValueError):
        env.reset(options={"task": task})
    with pytest.raises(ValueError):
        make(name, task=task, **kwargs)


@pytest.mark.parametrize(
    ("name", "kwargs", "words"),
    [
        ("HalfCheetahVel", {"velocity_range": "fast"}, ["velocity_range", "'fast'", "pearl", "maml"]),
        ("AntDir", {"directions": "sideways"}, ["directions", "'sideways'", "continuous"]),
        ("AntDir", {"ctrl_cost_weight": 0.1}, ["ctrl_cost_weight", "xml_file"]),
        ("HumanoidDir", {"healthy_z_range": (0.5, 2.0)}, ["healthy_z_range"]),
    ],
)
def test_invalid_options_are_rejected(name: str, kwargs: dict, words: list[str]) -> None:
    with pytest.raises(ValueError) as err:
        make(name, **kwargs)
    for word in words:
        assert word in str(err.value)


# ----- task distributions and seeding ------------------------------------------------------------
@pytest.mark.parametrize("name", NAMES)
def test_same_seed_same_trajectory(name: str) -> None:
    envs = [make(name), make(name)]
    actions = np.random.default_rng(1).uniform(-0.4, 0.4, (15, *envs[0].action_space.shape)).astype(np.float32)
    runs = []
    for env in envs:
        obs, _ = env.reset(seed=123)
        steps = [env.step(a)[:2] for a in actions]
        runs.append((obs, [o for o, _ in steps], [r for _, r in steps]))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(np.stack(runs[0][1]), np.stack(runs[1][1]))
    assert runs[0][2] == runs[1][2]
    other, _ = envs[0].reset(seed=124)
    assert not np.array_equal(other, runs[0][0])


@pytest.mark.parametrize("name", NAMES)
def test_sample_tasks_reproducible_and_in_space(name: str) -> None:
    env = make(name)
    a, b, c = env.sample_tasks(5, seed=7), env.sample_tasks(5, seed=7), env.sample_tasks(5, seed=8)
    for x, y in zip(a, b):
        assert all(np.array_equal(x[k], y[k]) for k in x)
    assert any(not np.array_equal(x[k], y[k]) for x, y in zip(a, c) for k in x) or name in ("HalfCheetahDir", "AntDir")
    assert all(env.task_space.contains({k: np.asarray(v) for k, v in t.items()}) for t in a)
    train, test = env.task_set("train"), env.task_set("test")
    two = name in ("HalfCheetahDir", "AntDir")
    assert (len(train), len(test)) == ((2, 2) if two else (100, 30))
    assert all(np.array_equal(x[k], y[k]) for x, y in zip(train, make(name).task_set("train")) for k in x)


def test_task_distributions() -> None:
    vel = make("HalfCheetahVel")
    v = np.array([float(t["velocity"]) for t in vel.sample_tasks(300, seed=0)])
    assert v.min() >= 0 and v.max() <= 3 and v.max() > 2.5
    ood = np.array([float(t["velocity"]) for t in vel.task_set("ood")])
    assert len(ood) == 30 and ood.min() >= 3 and ood.max() <= 4
    maml = make("HalfCheetahVel", velocity_range="maml")
    v = np.array([float(t["velocity"]) for t in maml.sample_tasks(300, seed=0)])
    assert v.min() >= 0 and v.max() <= 2

    goal = make("AntGoal")
    g = np.stack([t["goal"] for t in goal.sample_tasks(2000, seed=0)])
    r = np.linalg.norm(g, axis=1)
    assert r.max() <= 3 and np.mean(r < 1.5) == pytest.approx(0.25, abs=0.04)  # uniform on the disc
    r_ood = np.linalg.norm(np.stack([t["goal"] for t in goal.task_set("ood")]), axis=1)
    assert r_ood.min() >= 3 and r_ood.max() <= 4

    assert [float(t["direction"]) for t in make("HalfCheetahDir").task_set("test")] == [1.0, -1.0]
    assert [float(t["direction"]) for t in make("AntDir").task_set("train")] == [0.0, np.pi]
    cont = make("AntDir", directions="continuous")
    angles = np.array([float(t["direction"]) for t in cont.task_set("train")])
    assert len(angles) == 100 and angles.min() >= 0 and angles.max() < 2 * np.pi and len(np.unique(angles)) == 100
    cont.set_task({"direction": 1.0})  # any angle is a task here
    for name in ("HalfCheetahDir", "AntDir", "HumanoidDir", "Walker2dRandParams"):
        with pytest.raises(ValueError, match="ood"):
            make(name).task_set("ood")


# ----- task switching ----------------------------------------------------------------------------
def test_task_switching_changes_reward() -> None:
    env = gym.make("metarl/HalfCheetahVel-v0", task={"velocity": 0.5})
    base = env.unwrapped
    assert float(base.get_task()["velocity"]) == 0.5
    action = np.full(6, 0.3, np.float32)

    def first_reward(**reset_kwargs: Any) -> tuple[float, float]:
        env.reset(seed=0, **reset_kwargs)
        x = base.data.qpos[0]
        _, reward, _, _, _ = env.step(action)
        return reward, (base.data.qpos[0] - x) / base.dt

    r_slow, vx = first_reward()
    assert r_slow == pytest.approx(-abs(vx - 0.5) - ctrl(action, 0.05))
    r_fast, vx2 = first_reward(options={"task": {"velocity": 4.0}})
    assert vx2 == vx and r_fast == pytest.approx(-abs(vx - 4.0) - ctrl(action, 0.05))
    r_keep, _ = first_reward()  # a reset without a task keeps the current one
    assert r_keep == r_fast and float(base.get_task()["velocity"]) == 4.0
    r_empty, _ = first_reward(options={})
    assert r_empty == r_fast

    # Mid-episode: the new task counts from the next step on, with no reset.
    env.reset(seed=0)
    env.step(action)
    base.set_task({"velocity": 0.0})
    x = base.data.qpos[0]
    _, reward, _, _, _ = env.step(action)
    assert reward == pytest.approx(-abs((base.data.qpos[0] - x) / base.dt) - ctrl(action, 0.05))


def test_direction_switch_flips_forward_reward() -> None:
    env = make("HalfCheetahDir")
    action = np.full(6, 0.5, np.float32)
    rewards = {}
    for d in (1.0, -1.0):
        env.reset(seed=2, options={"task": {"direction": d}})
        rewards[d] = env.step(action)[4]["reward_forward"]
    assert rewards[1.0] == pytest.approx(-rewards[-1.0]) and rewards[1.0] != 0


@pytest.mark.parametrize("name", ["AntGoal", "HopperRandParams"])
def test_pickle_keeps_current_task(name: str) -> None:
    env = make(name)
    task = env.sample_tasks(1, seed=99)[0]
    env.set_task(task)
    clone = pickle.loads(pickle.dumps(env))
    assert all(np.array_equal(clone.get_task()[k], task[k]) for k in task)
    if name == "HopperRandParams":
        np.testing.assert_array_equal(clone.model.body_mass, env.model.body_mass)


# ----- the definitions are batched: n worlds at once give each world's single-env result ----------
@pytest.mark.parametrize("name", NAMES)
def test_definitions_batch_over_worlds(name: str) -> None:
    envs = [make(name) for _ in range(3)]
    tasks = envs[0].sample_tasks(3, seed=0)
    definition = envs[0].definition
    before, after, actions, results = [], [], [], []
    for i, (env, task) in enumerate(zip(envs, tasks)):
        env.reset(seed=i, options={"task": task})
        for _ in range(3):
            env.step(env.action_space.sample())
        before.append({f: _field(env, f).copy() for f in definition.before_fields})
        action = np.random.default_rng(i).uniform(-0.4, 0.4, env.action_space.shape)
        obs, reward, terminated, _, _ = env.step(action)
        after.append({f: _field(env, f).copy() for f in definition.fields})
        actions.append(action)
        results.append((obs, reward, terminated))

    def batch(states: list[dict]) -> SimState:
        return SimState(**{f: torch.from_numpy(np.stack([s[f] for s in states])) for f in states[0]})

    task_batch = tasks_to_tensors(tasks, float_dtype=torch.float64)
    act = torch.from_numpy(np.stack(actions))
    reward = definition.reward(batch(before), batch(after), act, task_batch)
    terminated = definition.terminated(batch(after), task_batch)
    obs = definition.observe(batch(after))
    assert reward.shape == terminated.shape == (3,) and obs.shape == (3, *envs[0].observation_space.shape)
    for i, (o, r, t) in enumerate(results):
        np.testing.assert_allclose(obs[i].numpy(), o, rtol=0, atol=1e-12)
        assert float(reward[i]) == pytest.approx(r, abs=1e-12)
        assert bool(terminated[i]) == t


def _field(env: Any, name: str) -> np.ndarray:
    return getattr(env.model if name == "body_mass" else env.data, name)
