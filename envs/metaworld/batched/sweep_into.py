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

from typing import Any

import torch
from torch import Tensor

from .puck import PuckClass
from .rewards import hamacher_product, norm, tolerance, without_y
from .sawyer import Episode, SimView

TARGET_RADIUS = 0.05
PAD_SUCCESS_MARGIN = 0.05
XZ_SUCCESS_MARGIN = 0.01


class SweepInto(PuckClass):
    """Meta-World's sweep-into-v3 over a batch of worlds."""

    name = "sweep-into-v3"
    rand_vec_size = 6
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.hole = self.const(env.goal)  # the goal: the hole, for every task
        self.obj_radius = float(env.OBJ_RADIUS)
        self.grip_success_margin = self.obj_radius + 0.005

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        height = settled["xpos"][:, self.obj_body, 2:3]  # the puck after the hand settled
        obj_init_pos = torch.cat((rand_vec[:, :2], height), dim=-1)
        self.set_puck(s, ids, obj_init_pos)
        target = self.hole.expand(len(ids), 3)
        return {"target_pos": target, "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def caging(self, obj: Tensor, s: SimView, ep: Episode) -> Tensor:
        """The class's own ``_gripper_caging_reward``: caging and (once caged) gripping in y, x-z caging."""
        left_pad, right_pad = s.body(self.ids.left_pad), s.body(self.ids.right_pad)
        delta_left = left_pad[:, 1] - obj[:, 1]
        delta_right = obj[:, 1] - right_pad[:, 1]
        # Farama's init_right_pad/init_left_pad are get_body_com views of MjData: the pads now.
        right_margin = ((obj[:, 1] - right_pad[:, 1]).abs() - PAD_SUCCESS_MARGIN).abs()
        left_margin = ((obj[:, 1] - left_pad[:, 1]).abs() - PAD_SUCCESS_MARGIN).abs()
        caging_bounds = (self.obj_radius, PAD_SUCCESS_MARGIN)
        gripping_bounds = (self.obj_radius, self.grip_success_margin)
        right_caging = tolerance(delta_right, caging_bounds, right_margin, "long_tail")
        left_caging = tolerance(delta_left, caging_bounds, left_margin, "long_tail")
        right_gripping = tolerance(delta_right, gripping_bounds, right_margin, "long_tail")
        left_gripping = tolerance(delta_left, gripping_bounds, left_margin, "long_tail")
        y_caging = hamacher_product(right_caging, left_caging)
        y_gripping = hamacher_product(right_gripping, left_gripping)
        tcp_obj_xz = norm(without_y(self.tcp_center(s)) - without_y(obj))
        xz_margin = norm(without_y(ep["obj_init_pos"]) - without_y(ep["init_tcp"])) - XZ_SUCCESS_MARGIN
        xz_caging = tolerance(tcp_obj_xz, (0.0, XZ_SUCCESS_MARGIN), xz_margin, "long_tail")
        caging = hamacher_product(y_caging, xz_caging)
        gripping = torch.where(caging > 0.95, y_gripping, 0.0)
        return (caging + gripping) / 2

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = obs[:, 4:7]
        target = torch.cat((ep["target_pos"][:, :2], obj[:, 2:3]), dim=-1)  # the goal at the puck's height
        obj_to_target = norm(obj - target)
        tcp_to_obj = norm(obj - self.tcp_center(s))
        in_place_margin = norm(ep["obj_init_pos"] - target)
        in_place = tolerance(obj_to_target, (0.0, TARGET_RADIUS), in_place_margin, "long_tail")
        object_grasped = self.caging(obj, s, ep)
        reward = (2 * object_grasped) + (6 * hamacher_product(object_grasped, in_place))
        reward = torch.where(obj_to_target < TARGET_RADIUS, 10.0, reward)
        info = {
            "success": (obj_to_target <= TARGET_RADIUS).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_reward": object_grasped,
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["SweepInto"]
