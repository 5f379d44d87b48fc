"""sweep-v3 (``SawyerSweepEnvV3``): sweep the puck off the table's edge.

Task: ``rand_vec = (puck x, y, z)``; the puck starts at ``(x, y)`` on the table (its ``z`` is
unused) and the goal is past the edge at ``(0.5, y, 0.01)``. Reward v2: ``2 * object_grasped + 6
* hamacher(object_grasped, in_place)`` with the class's own caging reward (pads around the puck
in y, gripper centre over it in x-z, and the pads' grip on it instead of a closing effort, so
no float32 enters), 10 on success (puck within 0.05 of the goal).

``grasp_success`` is not computed: it needs the contact forces between each pad and the puck
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .kinematics import normalize
from .puck import PuckClass
from .rewards import hamacher_product, norm, tolerance, without_y
from .sawyer import Episode, SimView

TARGET_RADIUS = 0.05
PAD_SUCCESS_MARGIN = 0.05
XZ_SUCCESS_MARGIN = 0.005
OBJ_QUAT = slice(12, 16)  # the puck's free joint: qpos[9:12] position, [12:16] orientation


class Sweep(PuckClass):
    """Meta-World's sweep-v3 over a batch of worlds."""

    name = "sweep-v3"
    rand_vec_size = 3
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.obj_radius = float(env.OBJ_RADIUS)
        self.goal_pos = self.const(env.goal)
        self.obj_z = float(env.init_config["obj_init_pos"][-1])

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = torch.cat((rand_vec[:, :2], torch.full_like(rand_vec[:, :1], self.obj_z)), dim=-1)
        target = self.goal_pos.expand(len(ids), 3).clone()
        target[:, 1] = rand_vec[:, 1]
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": target, "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        # The body's position and MuJoCo quaternion (xquat: its free joint's, normalised).
        return torch.cat((s.xpos[:, self.obj_body], normalize(s.qpos[:, OBJ_QUAT])), dim=-1)

    def caging(self, obj: Tensor, s: SimView, ep: Episode) -> Tensor:
        """The class's own ``_gripper_caging_reward``: caging in y and x-z, and the pads' grip."""
        left_pad, right_pad = s.body(self.ids.left_pad), s.body(self.ids.right_pad)
        delta_left = left_pad[:, 1] - obj[:, 1]
        delta_right = obj[:, 1] - right_pad[:, 1]
        # Farama's init_right_pad/init_left_pad are get_body_com views of MjData: the pads now.
        right_margin = ((obj[:, 1] - right_pad[:, 1]).abs() - PAD_SUCCESS_MARGIN).abs()
        left_margin = ((obj[:, 1] - left_pad[:, 1]).abs() - PAD_SUCCESS_MARGIN).abs()
        caging_bounds = (self.obj_radius, PAD_SUCCESS_MARGIN)
        grip_bounds = (self.obj_radius, self.obj_radius + 0.01)
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
        obj, target = obs[:, 4:7], ep["target_pos"]
        obj_to_target = norm(obj - target)
        tcp_to_obj = norm(obj - self.tcp_center(s))
        margin = norm(ep["obj_init_pos"] - target)
        in_place = tolerance(obj_to_target, (0.0, TARGET_RADIUS), margin, "long_tail")
        object_grasped = self.caging(obj, s, ep)
        reward = 2 * object_grasped + 6 * hamacher_product(object_grasped, in_place)
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


__all__ = ["Sweep"]
