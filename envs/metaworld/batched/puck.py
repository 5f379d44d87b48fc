"""The free object of the reach, push and pick-place family of classes (body ``obj``, geom ``objGeom``).

Their models put the object's free joint at ``qpos[9:16]`` / ``qvel[9:15]`` (``SawyerXYZEnv._set_obj_xyz``);
so do basketball's and soccer's balls.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .kinematics import normalize
from .sawyer import SawyerClass, SimView, object_pose

OBJ_QPOS = slice(9, 12)
OBJ_QUAT = slice(12, 16)  # the free joint's orientation, after its position
OBJ_QVEL = slice(9, 15)


def set_obj_xyz(s: SimView, ids: Tensor, pos: Tensor) -> None:
    """``_set_obj_xyz`` on worlds ``ids``: the free object at ``pos`` (``(len(ids), 3)``; its
    orientation kept) at rest, then the forward pass of ``set_state``."""
    s.qpos[ids, OBJ_QPOS] = pos.to(s.qpos.dtype)
    s.qvel[ids, OBJ_QVEL] = 0.0
    s.forward(ids)


def xquat_pose(s: SimView, body: int) -> Tensor:
    """Position of the free object's body ``body`` and its MuJoCo quaternion (``xquat``, (w, x, y,
    z): the free joint's, normalised), ``(n, 7)``."""
    return torch.cat((s.xpos[:, body], normalize(s.qpos[:, OBJ_QUAT])), dim=-1)


class XquatPuck(SawyerClass):
    """A class whose one object is the free body ``obj`` (``qpos[9:16]``), observed with its own
    MuJoCo quaternion (``xquat_pose``). Not every such model names the object's geom
    (bin-picking's does not)."""

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.obj_body = self.body_id("obj")

    def objects(self, s: SimView) -> Tensor:
        return xquat_pose(s, self.obj_body)

    def set_puck(self, s: SimView, ids: Tensor, pos: Tensor) -> None:
        """``_set_obj_xyz``: the object at ``pos`` at rest, then the forward pass of ``set_state``."""
        set_obj_xyz(s, ids, pos)


class PuckClass(XquatPuck):
    """A class whose one object is the free body ``obj`` observed through geom ``objGeom``."""

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.obj_geom = self.geom_id("objGeom")

    def objects(self, s: SimView) -> Tensor:
        return object_pose(s, self.obj_body, self.obj_geom)
