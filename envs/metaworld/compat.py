"""Farama's Meta-World classes under mujoco 4.0: the one compatibility override.

Meta-World 3.1.1 pins ``mujoco==3.3.0``. Under mujoco 4.0 its classes fail in the constructor:
``SawyerMocapBase.reset_mocap_welds`` writes an 11-entry array into each weld's ``eq_data`` row,
which mujoco 4.0 widened to 12 entries (``mjNEQDATA``). The first 11 entries keep their meaning
(anchor, relative pose, torque scale), so the override writes Meta-World's 11 values there and
leaves the new entry at the value the model compiled with. Nothing else differs: each class is
subclassed (installed files are never edited) and the subclass keeps the class's name, so
Meta-World's own name lookups (``evaluation._get_task_names``) still work.
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

#: Meta-World's weld data (anchor 0, relative position 0, relative quaternion (-1, 0, 0, 0),
#: torque scale 5): the 11 entries mujoco 3.3 has.
WELD_DATA = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 5.0])


def reset_mocap_welds(env: Any) -> None:
    """Meta-World's ``reset_mocap_welds`` for any ``mjNEQDATA`` >= 11: its 11 values in the first
    entries of every weld row, the model's own values in the rest."""
    import mujoco  # loaded with the env already; importing metarl.envs must not load it

    model = env.model
    if model.nmocap > 0 and model.eq_data is not None:
        for i in range(model.eq_data.shape[0]):
            if model.eq_type[i] == mujoco.mjtEq.mjEQ_WELD:
                model.eq_data[i, : WELD_DATA.size] = WELD_DATA


@functools.cache
def compatible(cls: type) -> type:
    """``cls`` (a Meta-World ``SawyerXYZEnv`` class) with ``reset_mocap_welds`` that works on
    mujoco 3.3 and 4.0 alike; the same subclass object for the same class."""
    return type(cls.__name__, (cls,), {"reset_mocap_welds": reset_mocap_welds, "__module__": __name__})


def env_class(name: str) -> type:
    """The compatible class of Meta-World class ``name`` (e.g. ``"reach-v3"``); ``ValueError`` for
    an unknown name, listing the known ones."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    if name not in ALL_V3_ENVIRONMENTS:
        raise ValueError(f"unknown Meta-World class {name!r}; allowed: {sorted(ALL_V3_ENVIRONMENTS)}")
    return compatible(ALL_V3_ENVIRONMENTS[name])
