"""Humanoid family: run in a target direction (humanoid-dir)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces
from gymnasium.envs.mujoco.humanoid_v5 import HumanoidEnv

from metarl.core.meta_env import Distribution

from .base import MujocoMetaEnv
from .definitions import TWO_PI, HumanoidDirDefinition, QvelNoise


class HumanoidDirEnv(MujocoMetaEnv, HumanoidEnv):
    """Humanoid that must run in a hidden direction (task ``{"direction": angle}``, ``U[0, 2pi)``).

    Reference: PEARL (katerakelly/oyster ``rlkit/envs/humanoid_dir.py``), also VariBAD
    (``environments/mujoco/humanoid_dir.py``); ProMP's ``humanoid_rand_direc_2d.py`` is the same
    with unit vectors for tasks.

    Reward ``1.25 *`` centre-of-mass xy velocity projected on ``(cos, sin)(angle)`` (PEARL's
    ``0.25 * displacement / timestep`` with ``frame_skip`` 5) ``- 0.1||a||^2 -
    min(5e-7 ||cfrc_ext||^2, 10) + 5``; terminates when the torso z leaves (1, 2).

    Deviations: built on Humanoid-v5 (model file, ``frame_skip`` 5, reset noise ``U(-0.01, 0.01)``)
    with its 348-dim observation, which drops the world body's rows of ``cinert``, ``cvel`` and
    ``cfrc_ext`` and the free joint's ``qfrc_actuator`` entries (PEARL keeps them: 376 dims).
    The action space is Humanoid-v5's ``[-0.4, 0.4]^17`` (VariBAD rescales ``[-1, 1]``). The
    survive bonus is paid on every step, the terminal one included, as in PEARL (Humanoid-v5
    pays it only while healthy).

    Contact forces: see ``MujocoMetaEnv`` (they differ from Humanoid-v5's; positions and
    velocities do not).
    """

    task_space: ClassVar[spaces.Dict] = spaces.Dict(
        {"direction": spaces.Box(0.0, TWO_PI, (), np.float64)}
    )
    trial_episodes: ClassVar[int] = 2
    needs_contact_forces: ClassVar[bool] = True
    qvel_reset_noise: ClassVar[QvelNoise] = "uniform"  # Humanoid-v5: qvel + U(-scale, scale)
    reference: ClassVar[str] = "PEARL humanoid-dir: run in a direction U[0, 2pi)"

    def __init__(self, task: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._init_family(HumanoidEnv, HumanoidDirDefinition, task, kwargs)

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: Distribution) -> dict[str, np.ndarray]:
        return {"direction": rng.uniform(0.0, TWO_PI, size=n)}
