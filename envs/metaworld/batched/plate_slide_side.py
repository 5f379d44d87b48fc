"""plate-slide-side-v3 (``SawyerPlateSlideSideEnvV3``): slide the plate sideways into the goal net.

Task: ``rand_vec = (plate x, y, z, goal x, y, z)`` (the plate's part fixed); the plate starts at
its channel (slides at 0) and the net stays where the model has it (Farama writes the goal to
``data.body("puck_goal").xpos``, which the next forward pass overwrites). Reward v2
(``plate.py``): ``1.5 * object_grasped``, ``2 + 7 * in_place`` while the gripper pushes low,
10 once the plate is within 0.05 of the goal; success within 0.07.
"""

from __future__ import annotations

from .plate import LowPushPlate


class PlateSlideSide(LowPushPlate):
    """Meta-World's plate-slide-side-v3 over a batch of worlds."""

    name = "plate-slide-side-v3"
    plate_start = (0.0, 0.0)


__all__ = ["PlateSlideSide"]
