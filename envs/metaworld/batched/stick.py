"""The stick and the container of stick-pull and stick-push (model ``sawyer_stick_obj``).

The stick is a free body (``qpos[9:16]``); the container slides in x and y on two joints
(``qpos[16:18]``) under the static body ``object``. Observed objects: the stick (its body's
position, SciPy's quaternion of its frame) and a point of the container (the ``insertion``
site, shifted per class), with a zero quaternion. Both classes cage the stick, stick-push
measured from the stick's start (its own ``_gripper_caging_reward`` reads ``stick_init_pos``),
stick-pull from the container's body (the base's reads ``obj_init_pos``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .kinematics import normalize, quat_to_mat
from .mixed import Mixed
from .puck import OBJ_QPOS, OBJ_QVEL
from .rewards import gripper_caging
from .sawyer import Episode, SawyerClass, SimView, quat_from_matrix

STICK_QUAT = slice(12, 16)  # the stick's free joint: qpos[9:12] position, [12:16] orientation
CONTAINER_QPOS = slice(16, 18)  # the container's x and y slides
#: The velocities the reference's ``_set_obj_xyz`` zeroes: ``qvel[16:18]``, though the slides'
#: dofs are 15 and 16 (so the y slide only; the x slide keeps its velocity).
CONTAINER_QVEL_ZEROED = slice(16, 18)


class StickClass(SawyerClass):
    """A class of the stick model: ``rand_vec = (stick x, y, z, goal x, y, z)``; the stick starts
    at ``(x, y)`` at the reference's height, the container at ``env.obj_init_qpos``."""

    rand_vec_size = 6
    #: The observed container point, from the ``insertion`` site.
    container_offset: tuple[float, float, float] = (0.0, 0.0, 0.0)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.stick = self.body_id("stick")
        self.container_body = self.body_id("object")
        self.insertion = self.site_id("insertion")
        self.stick_end = self.site_id("stick_end")
        slides = (self.joint_qpos("obj_slidex"), self.joint_qpos("obj_slidey"))
        if slides != (CONTAINER_QPOS.start, CONTAINER_QPOS.start + 1):
            raise ValueError("the container's slides are expected at qpos[16:18]")
        self.stick_z = float(env.init_config["stick_init_pos"][-1])
        self.container_qpos = self.const(np.asarray(env.obj_init_qpos, dtype=np.float64))
        self.offset = self.const(self.container_offset)

    def place_stick(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> Episode:
        """``_set_stick_xyz`` and ``_set_obj_xyz``: the stick at its start, the container at its
        start, at rest (as the reference zeroes them), and the forward pass; the start positions."""
        stick_init_pos = torch.cat((rand_vec[:, :2], torch.full_like(rand_vec[:, :1], self.stick_z)), dim=-1)
        s.qpos[ids, OBJ_QPOS] = stick_init_pos.to(s.qpos.dtype)
        s.qvel[ids, OBJ_QVEL] = 0.0
        s.qpos[ids, CONTAINER_QPOS] = self.container_qpos
        s.qvel[ids, CONTAINER_QVEL_ZEROED] = 0.0
        s.forward(ids)
        return {"stick_init_pos": stick_init_pos, "obj_init_pos": s.xpos[ids, self.container_body]}

    def objects(self, s: SimView) -> Tensor:
        # The stick's frame is its free joint's orientation; SciPy's quaternion of it, as the reference.
        rotation = quat_to_mat(normalize(s.qpos[:, STICK_QUAT]))
        container = s.site_xpos[:, self.insertion] + self.offset
        return torch.cat(
            (s.xpos[:, self.stick], quat_from_matrix(rotation), container, container.new_zeros(container.shape[0], 4)),
            dim=-1,
        )

    def caging(self, action: Tensor, stick: Tensor, init: Tensor, s: SimView, ep: Episode, obj_radius: float) -> Mixed:
        """The gripper caging reward (high density) on the stick, measured from ``init``."""
        return gripper_caging(
            action, stick, init, ep["init_tcp"], self.tcp_center(s), s.body(self.ids.left_pad),
            s.body(self.ids.right_pad), obj_radius=obj_radius, pad_success_thresh=0.05, object_reach_radius=0.01,
            xz_thresh=0.01, high_density=True,
        )  # fmt: skip


__all__ = ["StickClass"]
