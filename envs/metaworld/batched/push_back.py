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
from .rewards import hamacher_product, norm, pad_grip_caging, tolerance
from .sawyer import Episode, SimView

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

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp_to_obj = norm(obj - self.tcp_center(s))
        target_to_obj = norm(obj - target)
        target_to_obj_init = norm(obj_init_pos - target)
        in_place = tolerance(target_to_obj, (0.0, self.target_radius), target_to_obj_init, "long_tail")
        object_grasped = pad_grip_caging(  # the class's own _gripper_caging_reward
            obj, self.tcp_center(s), *self.pads(s), ep["obj_init_pos"], ep["init_tcp"],
            obj_radius=self.obj_radius, grip_margin=GRIP_MARGIN, xz_success_margin=XZ_SUCCESS_MARGIN,
        )  # fmt: skip
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
