"""Ant families: run in a target direction (ant-dir) and walk to a target position (ant-goal)."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.ant_v5 import AntEnv

from metarl.core.meta_env import Distribution
from metarl.core.tasks import Task, param_error

from .base import MujocoMetaEnv
from .definitions import TWO_PI, AntDirDefinition, AntGoalDefinition, QvelNoise

DIRECTION_MODES = ("forward_backward", "continuous")
#: Goal radius of the training distribution (PEARL, ProMP, VariBAD) and the outer radius of the
#: out-of-distribution annulus.
GOAL_RADIUS = 3.0
OOD_GOAL_RADIUS = 4.0


class AntDirEnv(MujocoMetaEnv, AntEnv):
    """Ant that must run in a hidden direction (task ``{"direction": angle}`` in radians).

    Reference: MAML (Finn et al., 2017; cbfinn/maml_rl ``ant_env_rand_direc.py``) and ProMP
    (``ant_rand_direc.py``): forward or backward along x; PEARL (katerakelly/oyster
    ``rlkit/envs/ant_dir.py``, also VariBAD): the angle ``U[0, 2pi)`` (its ``forward_backward``
    option gives MAML's two tasks).

    ``directions="forward_backward"`` (default): the angle is 0 or pi, the two tasks are the
    train and test sets, other angles are rejected. ``directions="continuous"``: the angle is
    drawn from ``U[0, 2pi)`` (PEARL's sampling) with the usual 100 train / 30 test tasks.

    Reward: torso xy velocity projected on ``(cos, sin)(angle)`` ``- 0.5||a||^2 - 5e-4
    ||clip(cfrc_ext, -1, 1)||^2 + 1``; terminates when the state is not finite or the torso z
    leaves [0.2, 1.0] (PEARL, ProMP's z range is [0, 1]).

    Deviations: built on Ant-v5 (model file, ``frame_skip`` 5, reset noise) with its default
    105-dim observation (``qpos[2:]``, ``qvel``, clipped ``cfrc_ext`` of all bodies but the world;
    PEARL and VariBAD observe no contact forces, ProMP includes the world body's zero row). The
    survive bonus is paid on every step, the terminal one included, as in all references (Ant-v5
    pays it only while healthy). MAML's tasks are directions +-1 along x; here they are angles.
    Contact forces: see ``MujocoMetaEnv`` (they differ from Ant-v5's; positions and velocities do not).
    """

    task_space: ClassVar[spaces.Dict] = spaces.Dict(
        {"direction": spaces.Box(0.0, TWO_PI, (), np.float64)}
    )
    trial_episodes: ClassVar[int] = 2
    needs_contact_forces: ClassVar[bool] = True
    qvel_reset_noise: ClassVar[QvelNoise] = "normal"  # Ant-v5: qvel + scale * N(0, 1)
    reference: ClassVar[str] = "MAML / ProMP ant-dir (forward/backward); PEARL's U[0, 2pi) angles as an option"

    FORWARD_BACKWARD: ClassVar[tuple[float, float]] = (0.0, float(np.pi))

    def __init__(
        self,
        task: Mapping[str, Any] | None = None,
        directions: Literal["forward_backward", "continuous"] = "forward_backward",
        **kwargs: Any,
    ) -> None:
        if directions not in DIRECTION_MODES:
            raise ValueError(f"directions={directions!r} is unknown; allowed: {list(DIRECTION_MODES)}")
        self.directions = directions
        self._init_family(AntEnv, AntDirDefinition, task, kwargs, directions=directions)

    def enumerate_tasks(self) -> list[Task] | None:
        if self.directions == "continuous":
            return None
        return [{"direction": np.array(a)} for a in self.FORWARD_BACKWARD]

    def _check_task_batch(self, batch: dict[str, np.ndarray]) -> None:
        if self.directions != "forward_backward":
            return
        angle = batch["direction"]
        allowed = np.array(self.FORWARD_BACKWARD)
        bad = ~np.isclose(angle[:, None], allowed[None, :], rtol=0, atol=1e-9).any(axis=1)
        if bad.any():
            raise param_error(
                "direction", angle, int(np.argmax(bad)),
                f"is not allowed with directions='forward_backward'; allowed values: {list(self.FORWARD_BACKWARD)} "
                "(forward, backward), or build the env with directions='continuous' for any angle in [0, 2pi]",
            )  # fmt: skip

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: Distribution) -> dict[str, np.ndarray]:
        if self.directions == "forward_backward":
            return {"direction": rng.choice(np.array(self.FORWARD_BACKWARD), size=n)}
        return {"direction": rng.uniform(0.0, TWO_PI, size=n)}


class AntGoalEnv(MujocoMetaEnv, AntEnv):
    """Ant that must walk to a hidden goal position (task ``{"goal": (x, y)}``).

    Reference: PEARL (katerakelly/oyster ``rlkit/envs/ant_goal.py``), which copies ProMP's
    ``ant_rand_goal.py``; VariBAD's ``ant_goal.py`` is the same. Goals ``r (cos a, sin a)`` with
    ``a ~ U[0, 2pi)``, ``r = 3 sqrt(U[0, 1])`` (uniform on the disc of radius 3); the ``ood`` set
    is uniform on the annulus ``3 <= r <= 4``. Task space: each coordinate in [-4, 4].

    Reward ``-||torso_xy - goal||_1 - 0.1||a||^2 - 5e-4 ||clip(cfrc_ext, -1, 1)||^2 +
    survive_reward`` (0 by default, as every reference); never terminates.

    Deviations: built on Ant-v5 (model file, ``frame_skip`` 5, reset noise); the observation is
    Ant-v5's with the torso's x, y kept (107 dims: ``qpos``, ``qvel``, clipped ``cfrc_ext[1:]``), as
    the references observe the full ``qpos`` (ProMP and PEARL also include the world body's zero
    contact row).
    Contact forces: see ``MujocoMetaEnv`` (they differ from Ant-v5's; positions and velocities do not).
    """

    task_space: ClassVar[spaces.Dict] = spaces.Dict(
        {"goal": spaces.Box(-OOD_GOAL_RADIUS, OOD_GOAL_RADIUS, (2,), np.float64)}
    )
    has_ood: ClassVar[bool] = True
    trial_episodes: ClassVar[int] = 2
    needs_contact_forces: ClassVar[bool] = True
    qvel_reset_noise: ClassVar[QvelNoise] = "normal"  # Ant-v5: qvel + scale * N(0, 1)
    reference: ClassVar[str] = "PEARL / ProMP ant-goal: reach a goal in the disc of radius 3"

    def __init__(self, task: Mapping[str, Any] | None = None, survive_reward: float = 0.0, **kwargs: Any) -> None:
        definition = functools.partial(AntGoalDefinition, survive_reward=float(survive_reward))
        self._init_family(AntEnv, definition, task, kwargs, survive_reward=survive_reward)

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: Distribution) -> dict[str, np.ndarray]:
        angle = rng.uniform(0.0, TWO_PI, size=n)
        # Radius with density proportional to r: uniform over the disc (train) or the annulus (ood).
        r_low, r_high = (0.0, GOAL_RADIUS) if distribution == "train" else (GOAL_RADIUS, OOD_GOAL_RADIUS)
        radius = np.sqrt(rng.uniform(r_low**2, r_high**2, size=n))
        return {"goal": radius[:, None] * np.stack((np.cos(angle), np.sin(angle)), axis=-1)}
