"""push-back-v3 (``SawyerPushBackEnvV3``): push (pull) the puck back along the table, towards the robot.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck starts at ``(x, y)`` and the goal
is at ``(goal x, goal y)``, both at the height the puck's geom has after the hand settled; the
puck is observed through its geom ``objGeom``. Reward v2: ``hamacher(object_grasped,
in_place)`` with the class's own caging reward (pads around the puck in y, gripper centre over
it in x-z, and the pads' grip on it instead of a closing effort, so no float32 enters), plus
``1 + 5 * in_place`` while the gripper centre is on the puck, half closed, and the puck has moved
towards the goal; 10 on the goal (within 0.05); success within 0.07.

``grasp_success`` is not computed: it needs the contact forces between each pad and the puck
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .push_wall import GeomPuckClass
from .rewards import hamacher_product, norm, tolerance, without_y
from .sawyer import Episode, SimView

PAD_SUCCESS_MARGIN = 0.05
GRIP_MARGIN = 0.003  # beyond the puck's radius
XZ_SUCCESS_MARGIN = 0.01


class PushBack(GeomPuckClass):
    """Meta-World's push-back-v3 over a batch of worlds."""

    name = "push-back-v3"
    rand_vec_size = 6
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.obj_radius = float(env.OBJ_RADIUS)
        self.target_radius = float(env.TARGET_RADIUS)

    def caging(self, obj: Tensor, s: SimView, ep: Episode) -> Tensor:
        """The class's own ``_gripper_caging_reward``: caging in y and x-z, and the pads' grip."""
        left_pad, right_pad = s.body(self.ids.left_pad), s.body(self.ids.right_pad)
        delta_left = left_pad[:, 1] - obj[:, 1]
        delta_right = obj[:, 1] - right_pad[:, 1]
        # Farama's init_right_pad/init_left_pad are get_body_com views of MjData: the pads now.
        right_margin = ((obj[:, 1] - right_pad[:, 1]).abs() - PAD_SUCCESS_MARGIN).abs()
        left_margin = ((obj[:, 1] - left_pad[:, 1]).abs() - PAD_SUCCESS_MARGIN).abs()
        caging_bounds = (self.obj_radius, PAD_SUCCESS_MARGIN)
        grip_bounds = (self.obj_radius, self.obj_radius + GRIP_MARGIN)
        y_caging = hamacher_product(
            tolerance(delta_right, caging_bounds, right_margin, "long_tail"),
            tolerance(delta_left, caging_bounds, left_margin, "long_tail"),
        )
        y_gripping = hamacher_product(
            tolerance(delta_right, grip_bounds, right_margin, "long_tail"),
            tolerance(delta_left, grip_bounds, left_margin, "long_tail"),
        )
        tcp_obj_xz = norm(without_y(self.tcp_center(s)) - without_y(obj))
        xz_margin = norm(without_y(ep["obj_init_pos"]) - without_y(ep["init_tcp"])) - XZ_SUCCESS_MARGIN
        xz_caging = tolerance(tcp_obj_xz, (0.0, XZ_SUCCESS_MARGIN), xz_margin, "long_tail")
        caging = hamacher_product(y_caging, xz_caging)
        gripping = torch.where(caging > 0.95, y_gripping, 0.0)
        return (caging + gripping) / 2

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp_to_obj = norm(obj - self.tcp_center(s))
        target_to_obj = norm(obj - target)
        target_to_obj_init = norm(obj_init_pos - target)
        in_place = tolerance(target_to_obj, (0.0, self.target_radius), target_to_obj_init, "long_tail")
        object_grasped = self.caging(obj, s, ep)
        reward = hamacher_product(object_grasped, in_place)
        moving = (tcp_to_obj < 0.01) & (0 < tcp_opened) & (tcp_opened < 0.55)
        moving &= target_to_obj_init - target_to_obj > 0.01
        reward = torch.where(moving, reward + (1.0 + 5.0 * in_place), reward)
        reward = torch.where(target_to_obj < self.target_radius, 10.0, reward)
        info = {
            "success": (target_to_obj <= 0.07).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_reward": object_grasped,
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["PushBack"]
