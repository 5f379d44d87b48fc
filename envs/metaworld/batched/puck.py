"""The free object of the reach, push and pick-place family of classes (body ``obj``, geom ``objGeom``).

Their models put the object's free joint at ``qpos[9:16]`` / ``qvel[9:15]`` (``SawyerXYZEnv._set_obj_xyz``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .sawyer import SawyerClass, SimView, object_pose

OBJ_QPOS = slice(9, 12)
OBJ_QVEL = slice(9, 15)


class PuckClass(SawyerClass):
    """A class whose one object is the free body ``obj`` observed through geom ``objGeom``."""

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.obj_body = self.body_id("obj")
        self.obj_geom = self.geom_id("objGeom")

    def objects(self, s: SimView) -> Tensor:
        return object_pose(s, self.obj_body, self.obj_geom)

    def set_puck(self, s: SimView, ids: Tensor, pos: Tensor) -> None:
        """``_set_obj_xyz``: the object at ``pos`` at rest, then the forward pass of ``set_state``."""
        s.qpos[ids, OBJ_QPOS] = pos.to(s.qpos.dtype)
        s.qvel[ids, OBJ_QVEL] = 0.0
        s.forward(ids)
