"""plate-slide-back-v3 (``SawyerPlateSlideBackEnvV3``): slide the plate back out of the net, towards the robot.

Task: ``rand_vec = (plate x, y, z, goal x, y, z)`` (the plate's part fixed); the plate starts
0.15 along its channel (in the net) and the net stays where the model has it (Farama writes
the goal to ``data.body("puck_goal").xpos``, which the next forward pass overwrites). Reward v2
(``plate.py``): ``1.5 * object_grasped``, ``2 + 7 * in_place`` while the gripper pushes low,
10 once the plate is within 0.05 of the goal; success within 0.07.
"""

from __future__ import annotations

from .plate import LowPushPlate


class PlateSlideBack(LowPushPlate):
    """Meta-World's plate-slide-back-v3 over a batch of worlds."""

    name = "plate-slide-back-v3"
    plate_start = (0.0, 0.15)


__all__ = ["PlateSlideBack"]
