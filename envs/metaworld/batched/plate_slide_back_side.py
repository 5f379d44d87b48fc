"""plate-slide-back-side-v3 (``SawyerPlateSlideBackSideEnvV3``): slide the plate sideways out of the net.

Task: ``rand_vec = (plate x, y, z, goal x, y, z)`` (the plate's part fixed); the net's body is
moved to the plate's ``rand_vec`` position (a model field, per world) and the plate starts -0.15
along x in its channel (in the net). Reward v2 (``plate.py``): ``1.5 * object_grasped``, ``2 +
7 * in_place`` while the gripper pushes low, 10 once the plate is within 0.05 of the goal;
success within 0.07.
"""

from __future__ import annotations

from torch import Tensor

from .plate import LowPushPlate
from .sawyer import SimView


class PlateSlideBackSide(LowPushPlate):
    """Meta-World's plate-slide-back-side-v3 over a batch of worlds."""

    name = "plate-slide-back-side-v3"
    model_fields = ("body_pos",)
    plate_start = (-0.15, 0.0)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.goal_body] = rand_vec[:, :3].to(s.qpos.dtype)  # the net at obj_init_pos


__all__ = ["PlateSlideBackSide"]
