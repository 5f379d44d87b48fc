"""The hinged door of door-open and door-close: its body moved per task, its handle observed.

Their models share the door (body ``door``, placed at ``rand_vec``), its hinge (``doorjoint``) and
the handle (geom ``handle``, observed with its frame's orientation). A reset sets the hinge at
rest at the class's angle (``_set_obj_xyz``); the goal is ``rand_vec`` plus the class's offset.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .sawyer import Episode, SawyerClass, SimView, geom_pose


class DoorClass(SawyerClass):
    """A door class: ``start_angle`` its hinge at a reset, ``goal_offset`` its goal from the door."""

    rand_vec_size = 3
    model_fields = ("body_pos",)
    #: The hinge's angle at a reset (0: closed).
    start_angle: ClassVar[float]
    #: The goal, from the door's body.
    goal_offset: ClassVar[tuple[float, float, float]]

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.door_body = self.body_id("door")
        self.handle = self.geom_id("handle")
        self.door_qpos = self.joint_qpos("doorjoint")
        self.door_dof = self.joint_dof("doorjoint")
        self.door_to_goal = self.const(self.goal_offset)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.door_body] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        s.qpos[ids, self.door_qpos] = self.start_angle  # the door at rest at its start
        s.qvel[ids, self.door_dof] = 0.0
        s.forward(ids)
        return {"target_pos": rand_vec + self.door_to_goal, "obj_init_pos": rand_vec}

    def objects(self, s: SimView) -> Tensor:
        return geom_pose(s, self.handle)


__all__ = ["DoorClass"]
