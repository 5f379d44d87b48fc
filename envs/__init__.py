"""metarl's task-distributed environment families, registered with gymnasium on import.

Imported as ``metarl.envs`` (``import metarl`` imports it): afterwards
``gymnasium.make("metarl/<Name>-v0")`` builds any family below.
"""

if __name__ != "metarl.envs":
    raise ImportError(
        f"this folder is the package metarl.envs and was imported as {__name__!r}; "
        "install metarl (pip install -e .) and import metarl.envs"
    )

from metarl.core.registry import register_builtin_family

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

# Registered by name only: the modules (and torch, MuJoCo) load at the first make or make_vec, so
# `import metarl` and the CLI start at once. The batched faces are built by `vector_entries`.
for _name, (_entry, _horizon) in ANALYTIC_FAMILIES.items():
    register_builtin_family(f"metarl/{_name}-v0", f"{__name__}.{_entry}", max_episode_steps=_horizon,
                            vector_entry_point=f"{__name__}.vector_entries:{_name}")  # fmt: skip
for _name, _entry in MUJOCO_FAMILIES.items():
    register_builtin_family(f"metarl/{_name}-v0", f"{__name__}.{_entry}", max_episode_steps=200,
                            vector_entry_point=f"{__name__}.vector_entries:{_name}")  # fmt: skip

# Meta-World (needs the `metaworld` package, installed without its mujoco pin: see metaworld/):
# ML1 of each of the 50 classes and the multi-class benchmarks, on Farama's classes.
from .metaworld.benchmarks import CLASS_NAMES as _MW_CLASSES  # noqa: E402  (plain names, no import of metaworld)
from .metaworld.benchmarks import MULTI_CLASS as _MW_MULTI  # noqa: E402
from .metaworld.benchmarks import ml1_name as _ml1_name  # noqa: E402

_MW_ENTRY = f"{__name__}.metaworld.family:MetaWorldEnv"
_MW_NATIVE = f"{__name__}.metaworld.batched.vector:MetaWorldVectorEnv"
_MW_NATIVE_MULTI = f"{__name__}.metaworld.batched.benchmark_vector:MetaWorldBenchmarkVectorEnv"
for _bench in [*map(_ml1_name, _MW_CLASSES), *_MW_MULTI]:
    # Every class has a native batched face (mujoco.batch / MuJoCo Warp); a multi-class benchmark
    # runs one batch per class.
    _vector = _MW_NATIVE if _bench.startswith("ML1-") else _MW_NATIVE_MULTI
    register_builtin_family(f"metarl/{_bench}-v0", _MW_ENTRY, max_episode_steps=500, kwargs={"benchmark": _bench},
                            vector_entry_point=_vector,
                            group="metarl/ML1-<class>-v0" if _bench.startswith("ML1-") else None)  # fmt: skip
