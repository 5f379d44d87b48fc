"""Half-cheetah families: target velocity (cheetah-vel) and target direction (cheetah-dir)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.half_cheetah_v5 import HalfCheetahEnv

from metarl.core.meta_env import Distribution
from metarl.core.tasks import Task, param_error

from .base import MujocoMetaEnv
from .definitions import HalfCheetahDirDefinition, HalfCheetahVelDefinition, QvelNoise

#: Training ranges of the target velocity: PEARL, ProMP and VariBAD draw U[0, 3]; MAML and
#: pytorch-maml-rl (and garage) draw U[0, 2].
VELOCITY_RANGES: dict[str, tuple[float, float]] = {"pearl": (0.0, 3.0), "maml": (0.0, 2.0)}
#: Largest target velocity a task may ask for: room above every training range for ``ood`` tasks.
MAX_VELOCITY = 5.0


class HalfCheetahVelEnv(MujocoMetaEnv, HalfCheetahEnv):
    """Half-cheetah that must run at a hidden target velocity (task ``{"velocity": v}``).

    Reference: MAML (Finn et al., 2017; cbfinn/maml_rl ``half_cheetah_env_rand.py``) as
    re-implemented by PEARL (katerakelly/oyster ``rlkit/envs/half_cheetah_vel.py``), ProMP
    (``half_cheetah_rand_vel.py``) and VariBAD (``environments/mujoco/half_cheetah_vel.py``).

    Reward ``-|v_x - v| - 0.05 ||a||^2`` with ``v_x = (x_after - x_before) / dt`` from the root's
    x slide; never terminates. Targets: ``velocity_range="pearl"`` (default) draws ``U[0, 3]``
    (PEARL, ProMP, VariBAD), ``"maml"`` draws ``U[0, 2]`` (MAML, pytorch-maml-rl); the ``ood``
    set draws from the unit interval above the training range (``U[3, 4]`` by default, ``U[2, 3]``
    for ``"maml"``). The task space is ``[0, 5]``: every reference's range plus ood room.

    Deviations: built on HalfCheetah-v5's model file, ``frame_skip`` (5) and reset noise, with
    its 17-dim observation (``qpos[1:]``, ``qvel``; PEARL and VariBAD append the torso's centre
    of mass, ProMP and MAML do not); observations are float64 (PEARL, VariBAD: float32).
    """

    task_space: ClassVar[spaces.Dict] = spaces.Dict(
        {"velocity": spaces.Box(0.0, MAX_VELOCITY, (), np.float64)}
    )
    has_ood: ClassVar[bool] = True
    trial_episodes: ClassVar[int] = 2
    qvel_reset_noise: ClassVar[QvelNoise] = "normal"  # HalfCheetah-v5: qvel + scale * N(0, 1)
    reference: ClassVar[str] = "MAML / PEARL cheetah-vel: reach a target velocity, U[0, 3]"

    def __init__(
        self,
        task: Mapping[str, Any] | None = None,
        velocity_range: Literal["pearl", "maml"] = "pearl",
        **kwargs: Any,
    ) -> None:
        if velocity_range not in VELOCITY_RANGES:
            raise ValueError(f"velocity_range={velocity_range!r} is unknown; allowed: {list(VELOCITY_RANGES)}")
        self.velocity_range = velocity_range
        self._init_family(HalfCheetahEnv, HalfCheetahVelDefinition, task, kwargs, velocity_range=velocity_range)

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: Distribution) -> dict[str, np.ndarray]:
        low, high = VELOCITY_RANGES[self.velocity_range]
        if distribution == "ood":
            low, high = high, high + 1.0
        return {"velocity": rng.uniform(low, high, size=n)}


class HalfCheetahDirEnv(MujocoMetaEnv, HalfCheetahEnv):
    """Half-cheetah that must run forward or backward (task ``{"direction": +1 or -1}``).

    Reference: MAML (Finn et al., 2017; cbfinn/maml_rl ``half_cheetah_env_rand_direc.py``) as
    re-implemented by PEARL (``rlkit/envs/half_cheetah_dir.py``), ProMP
    (``half_cheetah_rand_direc.py``), VariBAD and pytorch-maml-rl.

    Reward ``direction * v_x - 0.05 ||a||^2``; never terminates. There are two tasks, so the
    train and test sets are both of them (``enumerate_tasks``); random draws pick either with
    probability 1/2 as the references do.

    Deviations: built on HalfCheetah-v5 (model file, ``frame_skip`` 5, reset noise, 17-dim float64
    observation without PEARL's and VariBAD's appended torso position).
    """

    task_space: ClassVar[spaces.Dict] = spaces.Dict(
        {"direction": spaces.Box(-1.0, 1.0, (), np.float64)}
    )
    trial_episodes: ClassVar[int] = 2
    qvel_reset_noise: ClassVar[QvelNoise] = "normal"  # HalfCheetah-v5: qvel + scale * N(0, 1)
    reference: ClassVar[str] = "MAML / PEARL cheetah-dir: run forward (+1) or backward (-1)"

    DIRECTIONS: ClassVar[tuple[float, float]] = (1.0, -1.0)

    def __init__(self, task: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._init_family(HalfCheetahEnv, HalfCheetahDirDefinition, task, kwargs)

    def enumerate_tasks(self) -> list[Task]:
        return [{"direction": np.array(d)} for d in self.DIRECTIONS]

    def _check_task_batch(self, batch: dict[str, np.ndarray]) -> None:
        direction = batch["direction"]
        bad = ~np.isin(direction, self.DIRECTIONS)
        if bad.any():
            raise param_error(
                "direction", direction, int(np.argmax(bad)),
                f"is not allowed; allowed values: {list(self.DIRECTIONS)} (forward, backward)",
            )  # fmt: skip

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: Distribution) -> dict[str, np.ndarray]:
        return {"direction": rng.choice(np.array(self.DIRECTIONS), size=n)}
