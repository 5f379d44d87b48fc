"""The batched faces of the built-in families, by family name: ``vector_entries:PointRobot`` is
``AnalyticVectorEnv`` over ``PointRobotEnv``, ``vector_entries:HalfCheetahVel`` is
``MujocoVectorEnv`` over ``HalfCheetahVelEnv``. gymnasium loads these names at the first
``make_vec``, so registering the families imports nothing heavy."""

from __future__ import annotations

import functools
from typing import Any

from gymnasium.envs.registration import load_env_creator

from . import ANALYTIC_FAMILIES, MUJOCO_FAMILIES


def __getattr__(name: str) -> Any:
    package = __name__.rsplit(".", 1)[0]
    if name in ANALYTIC_FAMILIES:
        from metarl.core.vector import AnalyticVectorEnv

        return functools.partial(AnalyticVectorEnv, load_env_creator(f"{package}.{ANALYTIC_FAMILIES[name][0]}"))
    if name in MUJOCO_FAMILIES:
        from .mujoco.vector import MujocoVectorEnv

        return functools.partial(MujocoVectorEnv, load_env_creator(f"{package}.{MUJOCO_FAMILIES[name]}"))
    raise AttributeError(f"module {__name__!r} has no batched face {name!r}")
