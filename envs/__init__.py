"""metarl's task-distributed environment families, registered with gymnasium on import.

Imported as ``metarl.envs`` (``import metarl`` imports it): afterwards
``gymnasium.make("metarl/<Name>-v0")`` builds any family below.
"""

if __name__ != "metarl.envs":
    raise ImportError(
        f"this folder is the package metarl.envs and was imported as {__name__!r}; "
        "install metarl (pip install -e .) and import metarl.envs"
    )

import functools

from gymnasium.envs.registration import load_env_creator

from metarl.registry import register_family
from metarl.vector import AnalyticVectorEnv

from .mujoco.vector import MujocoVectorEnv

# Analytic families: id suffix -> (entry point relative to this package, horizon)
ANALYTIC_FAMILIES: dict[str, tuple[str, int]] = {
    "PointRobot": ("point:PointRobotEnv", 20),
    "SparsePointRobot": ("point:SparsePointRobotEnv", 20),
    "Navigation2D": ("point:Navigation2DEnv", 100),
    "BernoulliBandit": ("bandits:BernoulliBanditEnv", 1),
    "GaussianBandit": ("bandits:GaussianBanditEnv", 1),
    "TabularMDP": ("tabular_mdp:TabularMDPEnv", 10),
    "GridNavigation": ("gridworld:GridNavigationEnv", 15),
}

# MuJoCo families, built on gymnasium's v5 environments; all have horizon 200.
MUJOCO_FAMILIES: dict[str, str] = {
    "HalfCheetahVel": "mujoco.half_cheetah:HalfCheetahVelEnv",
    "HalfCheetahDir": "mujoco.half_cheetah:HalfCheetahDirEnv",
    "AntDir": "mujoco.ant:AntDirEnv",
    "AntGoal": "mujoco.ant:AntGoalEnv",
    "HumanoidDir": "mujoco.humanoid:HumanoidDirEnv",
    "Walker2dRandParams": "mujoco.rand_params:Walker2dRandParamsEnv",
    "HopperRandParams": "mujoco.rand_params:HopperRandParamsEnv",
}

for _name, (_entry, _horizon) in ANALYTIC_FAMILIES.items():
    _family = load_env_creator(f"{__name__}.{_entry}")
    register_family(
        f"metarl/{_name}-v0",
        _family,
        max_episode_steps=_horizon,
        vector_entry_point=functools.partial(AnalyticVectorEnv, _family),
    )

for _name, _entry in MUJOCO_FAMILIES.items():
    _family = load_env_creator(f"{__name__}.{_entry}")
    register_family(
        f"metarl/{_name}-v0",
        _family,
        max_episode_steps=200,
        vector_entry_point=functools.partial(MujocoVectorEnv, _family),
    )
