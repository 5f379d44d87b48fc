"""push-v3 (``SawyerPushEnvV3``): push the puck along the table to a goal.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck starts at ``(x, y)`` and the goal
is at ``(goal x, goal y)``, both at the height the puck has after the hand settled (its
``z`` and the goal's are unused). Reward v2: twice the gripper caging reward (high density),
plus ``1 + reward + 5 * in_place`` once the gripper holds the puck, 10 on success (puck within
0.05 of the goal).

``grasp_success`` is not computed: it needs the contact forces between each pad and the puck
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .mixed import select, value
from .puck import PuckClass
from .rewards import gripper_caging, norm, tolerance
from .sawyer import Episode, SimView


class Push(PuckClass):
    """Meta-World's push-v3 over a batch of worlds."""

    name = "push-v3"
    rand_vec_size = 6
    target_radius = 0.05
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        height = settled["xpos"][:, self.obj_body, 2:3]  # the puck after the hand settled
        target = torch.cat((rand_vec[:, 3:5], height), dim=-1)
        obj_init_pos = torch.cat((rand_vec[:, :2], height), dim=-1)
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": target, "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        tcp_to_obj = norm(obj - tcp)
        target_to_obj = norm(obj - target)
        target_to_obj_init = norm(obj_init_pos - target)
        in_place = tolerance(target_to_obj, (0.0, self.target_radius), target_to_obj_init, "long_tail")
        object_grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.015, pad_success_thresh=0.05, object_reach_radius=0.01, xz_thresh=0.005, high_density=True,
        )  # fmt: skip
        reward = 2 * object_grasped  # float32 where the closing effort entered (see mixed.py)
        holding = (tcp_to_obj < 0.02) & (tcp_opened > 0)
        reward = select(holding, reward + (1.0 + reward + 5.0 * in_place), reward)
        reward = value(select(target_to_obj < self.target_radius, 10.0, reward))
        info = {
            "success": (target_to_obj <= self.target_radius).to(reward.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(reward.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["Push"]
