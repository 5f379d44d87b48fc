"""sweep-into-v3 (``SawyerSweepIntoGoalEnvV3``): sweep the puck into the hole in the table.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck starts at ``(x, y)``, at the height
it has after the hand settled; the goal part is unused: the goal is the hole, at the class's
fixed ``goal``. Reward v2: ``2 * caging + 6 * hamacher(caging, in_place)`` (the class's own
caging reward: pads around the puck in y, gripper centre over it in x-z, without the closing
effort), 10 when the puck is within 0.05 of the goal (the goal at the puck's height), which
is also success.

``grasp_success`` is not computed: it needs the contact forces between each pad and the puck
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .sawyer import Episode, SimView
from .sweep import SweepClass


class SweepInto(SweepClass):
    """Meta-World's sweep-into-v3 over a batch of worlds."""

    name = "sweep-into-v3"
    rand_vec_size = 6
    grip_margin = 0.005
    xz_success_margin = 0.01

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        height = settled["xpos"][:, self.obj_body, 2:3]  # the puck after the hand settled
        obj_init_pos = torch.cat((rand_vec[:, :2], height), dim=-1)
        self.set_puck(s, ids, obj_init_pos)
        target = self.goal_pos.expand(len(ids), 3)  # the goal: the hole, for every task
        return {"target_pos": target, "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def target_now(self, obj: Tensor, ep: Episode) -> Tensor:
        return torch.cat((ep["target_pos"][:, :2], obj[:, 2:3]), dim=-1)  # the goal at the puck's height


__all__ = ["SweepInto"]
