"""The pads' contact sensors of the batched Meta-World face (``batched/contacts.py``), alone."""

from __future__ import annotations

import warnings

import mujoco
import numpy as np
import pytest

pytest.importorskip("metaworld")

from metarl.envs.metaworld.batched.contacts import with_pad_contact_sensors  # noqa: E402
from metarl.envs.metaworld.benchmarks import ml1_name  # noqa: E402
from metarl.envs.metaworld.family import MetaWorldEnv  # noqa: E402


@pytest.fixture(scope="module")
def stick_push():
    family = MetaWorldEnv(benchmark=ml1_name("stick-push-v3"), partially_observable=False)
    family.set_task(family.task_set("train")[0])
    family.reset(seed=0)
    return family


def test_the_sensor_model_equals_farama_s_but_for_its_two_sensors(stick_push):
    env = stick_push.farama_env
    model, columns = with_pad_contact_sensors(env, "objGeom")
    assert env.model.nsensor == 0 and model.nsensor == 2 and columns.tolist() == [0, 3]
    for name in dir(env.model):
        live = getattr(env.model, name)
        if name.startswith("_") or "name" in name or "sensor" in name or not isinstance(live, np.ndarray):
            continue
        np.testing.assert_array_equal(getattr(model, name), live, err_msg=name)
    assert model.opt.timestep == env.model.opt.timestep and model.opt.cone == env.model.opt.cone


def test_the_sensors_read_touching_as_farama_does(stick_push):
    """Along the expert's episode (which grasps the stick), the sensors on Farama's states say
    both pads touch exactly when Farama's ``touching_main_object`` does."""
    from metaworld.policies import ENV_POLICY_MAP

    env = stick_push.farama_env
    model, columns = with_pad_contact_sensors(env, "objGeom")
    data = mujoco.MjData(model)
    size = mujoco.mj_stateSize(env.model, mujoco.mjtState.mjSTATE_INTEGRATION)
    state = np.empty(size)
    expert = ENV_POLICY_MAP["stick-push-v3"]()
    obs, _ = stick_push.reset(seed=0)
    touching = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the expert warns about its gains
        for _ in range(80):
            obs, *_ = stick_push.step(expert.get_action(obs))
            mujoco.mj_getState(env.model, env.data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
            mujoco.mj_setState(model, data, state, mujoco.mjtState.mjSTATE_INTEGRATION)
            mujoco.mj_forward(model, data)
            ours = bool((data.sensordata[columns] > 0).all())
            touching.append((ours, bool(env.touching_main_object)))
    ours, farama = np.array(touching).T
    assert farama.sum() >= 20, "the expert grasps the stick in this episode"
    np.testing.assert_array_equal(ours, farama)
