"""Random physical parameters (rand_param_envs): Walker2d and Hopper with scaled masses,
inertias, frictions and joint damping."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from os import path
from typing import Any, ClassVar

import gymnasium.envs.mujoco
import mujoco
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.mujoco.hopper_v5 import HopperEnv
from gymnasium.envs.mujoco.walker2d_v5 import Walker2dEnv

from metarl.core.meta_env import Distribution
from metarl.core.tasks import Task

from .base import MujocoMetaEnv
from .definitions import (
    RAND_PARAM_FIELDS,
    RAND_PARAM_LOG_SCALE_LIMIT,
    HopperDefinition,
    QvelNoise,
    Walker2dDefinition,
    scaled_model_fields,
)

_ASSETS = path.join(path.dirname(gymnasium.envs.mujoco.__file__), "assets")
#: Base of each task parameter's multiplier.
_BASES = {param: base for param, base in RAND_PARAM_FIELDS.values()}


def rand_param_task_space(model: mujoco.MjModel) -> spaces.Dict:
    """Scales of every element of each randomised model field: ``[base^-3, base^3]``."""
    out = {}
    for field, (param, base) in RAND_PARAM_FIELDS.items():
        shape = getattr(model, field).shape
        low, high = base**-RAND_PARAM_LOG_SCALE_LIMIT, base**RAND_PARAM_LOG_SCALE_LIMIT
        out[param] = spaces.Box(low, high, shape, np.float64)
    return spaces.Dict(out)


@functools.cache
def _default_task_space(xml_file: str) -> spaces.Dict:
    return rand_param_task_space(mujoco.MjModel.from_xml_path(path.join(_ASSETS, xml_file)))


class RandParamsEnv(MujocoMetaEnv):
    """Random-parameters mixin: a task scales model fields of a v5 planar walker.

    Reference: rand_param_envs (dennisl88/rand_param_envs, ``base.py:RandomEnv``), used by PEARL
    (katerakelly/oyster ``rlkit/envs/*_rand_params_wrapper.py``) and VariBAD. Task parameters are
    per-element multipliers of the model's defaults: ``body_mass_scale (nbody,)``,
    ``body_inertia_scale (nbody, 3)``, ``geom_friction_scale (ngeom, 3)`` (each ``1.5^u``) and
    ``dof_damping_scale (nv,)`` (``1.3^u``), with an independent ``u ~ U[-3, 3]`` per element. As
    in the reference, every element is drawn, the world body's and the floor geom's included
    (the world body's zero mass and inertia stay zero; the floor's friction does change contacts)
    and the root joints' zero damping stays zero. The task space is the range of the scales.

    ``set_task`` writes ``model field = default * scale`` (defaults copied at construction), with
    no ``mj_setConst``, as the reference: MuJoCo reads these fields at every step.

    Deviations: built on the v5 envs (their model files, ``frame_skip`` 4, reset noise
    ``U(-0.005, 0.005)``, observation ``qpos[1:]``, ``clip(qvel, -10, 10)`` and healthy-state
    termination, which the reference matches); Walker2d-v5's model gives both feet friction 0.9
    (the reference's walker2d.xml: right 0.9, left 1.9). Task sets are 100 train / 30 test (PEARL
    used 40 / 10).
    """

    #: Walker2d-v5 and Hopper-v5: qvel + U(-scale, scale).
    qvel_reset_noise: ClassVar[QvelNoise] = "uniform"

    _defaults: dict[str, np.ndarray]
    _default_tensors: dict[str, torch.Tensor]

    def _prepare_model(self) -> None:
        self._defaults = {field: getattr(self.model, field).copy() for field in RAND_PARAM_FIELDS}
        self._default_tensors = {k: torch.from_numpy(v)[None] for k, v in self._defaults.items()}
        space = rand_param_task_space(self.model)
        if not _same_shapes(space, type(self).task_space):
            # A custom xml_file with other sizes: this instance's task space follows its model.
            self.task_space = space

    @property
    def default_parameters(self) -> dict[str, np.ndarray]:
        """Copies of the model fields before any task was applied."""
        return {k: v.copy() for k, v in self._defaults.items()}

    def _apply_task(self, task: Task) -> None:
        super()._apply_task(task)
        fields = scaled_model_fields(self._default_tensors, self._task_tensors)
        for name, value in fields.items():
            getattr(self.model, name)[...] = value[0].numpy()

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: Distribution) -> dict[str, np.ndarray]:
        out = {}
        for param, space in self.task_space.spaces.items():
            base = _BASES[param]
            u = rng.uniform(-RAND_PARAM_LOG_SCALE_LIMIT, RAND_PARAM_LOG_SCALE_LIMIT, size=(n, *space.shape))
            # Clip so rounding in pow can never step outside the task space's closed range.
            out[param] = np.clip(base**u, space.low, space.high)
        return out


def _same_shapes(a: spaces.Dict, b: spaces.Dict) -> bool:
    return list(a.spaces) == list(b.spaces) and all(a[k].shape == b[k].shape for k in a.spaces)


class Walker2dRandParamsEnv(RandParamsEnv, Walker2dEnv):
    """Walker2d with random masses, inertias, frictions and damping (walker-rand-params).

    Reward ``v_x + 1 - 0.001||a||^2``; terminates unless ``0.8 < z < 2`` and ``|angle| < 1``
    (Walker2d-v5 and rand_param_envs' ``walker2d_rand_params.py`` agree). See ``RandParamsEnv``
    for the task distribution, the reference and the deviations.
    """

    task_space: ClassVar[spaces.Dict] = _default_task_space("walker2d_v5.xml")
    trial_episodes: ClassVar[int] = 2
    reference: ClassVar[str] = "rand_param_envs / PEARL walker-rand-params: 1.5^U[-3,3] mass, inertia, friction; 1.3^U[-3,3] damping"

    def __init__(self, task: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._init_family(Walker2dEnv, Walker2dDefinition, task, kwargs)


class HopperRandParamsEnv(RandParamsEnv, HopperEnv):
    """Hopper with random masses, inertias, frictions and damping (hopper-rand-params).

    Reward ``v_x + 1 - 0.001||a||^2``; terminates unless ``(qpos, qvel)[2:]`` is within
    (-100, 100), ``z > 0.7`` and ``|angle| < 0.2`` (Hopper-v5 and rand_param_envs'
    ``hopper_rand_params.py`` agree). See ``RandParamsEnv`` for the task distribution, the
    reference and the deviations.
    """

    task_space: ClassVar[spaces.Dict] = _default_task_space("hopper.xml")
    trial_episodes: ClassVar[int] = 2
    reference: ClassVar[str] = "rand_param_envs / PEARL hopper-rand-params: 1.5^U[-3,3] mass, inertia, friction; 1.3^U[-3,3] damping"

    def __init__(self, task: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
        self._init_family(HopperEnv, HopperDefinition, task, kwargs)
