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

from typing import Any, ClassVar

import torch
from torch import Tensor

from .puck import PuckClass, xquat_pose
from .rewards import hamacher_product, norm, pad_grip_caging, tolerance
from .sawyer import Episode, SimView

TARGET_RADIUS = 0.05


class SweepClass(PuckClass):
    """sweep and sweep-into: the puck swept to a goal (Farama's ``goal``, the class's ``target_now``
    of it), rewarded ``2 * caging + 6 * hamacher(caging, in_place)`` with the class's own caging
    reward (``rewards.pad_grip_caging`` with the class's margins), 10 on success (within 0.05)."""

    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")
    #: The gripping bounds reach this much beyond the puck's radius.
    grip_margin: ClassVar[float]
    xz_success_margin: ClassVar[float]

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.obj_radius = float(env.OBJ_RADIUS)
        self.goal_pos = self.const(env.goal)

    def target_now(self, obj: Tensor, ep: Episode) -> Tensor:
        """The goal the reward measures the puck ``obj`` against."""
        return ep["target_pos"]

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = obs[:, 4:7]
        target = self.target_now(obj, ep)
        obj_to_target = norm(obj - target)
        tcp_to_obj = norm(obj - self.tcp_center(s))
        margin = norm(ep["obj_init_pos"] - target)
        in_place = tolerance(obj_to_target, (0.0, TARGET_RADIUS), margin, "long_tail")
        object_grasped = pad_grip_caging(
            obj, self.tcp_center(s), *self.pads(s), ep["obj_init_pos"], ep["init_tcp"],
            obj_radius=self.obj_radius, grip_margin=self.grip_margin, xz_success_margin=self.xz_success_margin,
        )  # fmt: skip
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


class Sweep(SweepClass):
    """Meta-World's sweep-v3 over a batch of worlds."""

    name = "sweep-v3"
    rand_vec_size = 3
    grip_margin = 0.01
    xz_success_margin = 0.005

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.obj_z = float(env.init_config["obj_init_pos"][-1])

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = torch.cat((rand_vec[:, :2], torch.full_like(rand_vec[:, :1], self.obj_z)), dim=-1)
        target = self.goal_pos.expand(len(ids), 3).clone()
        target[:, 1] = rand_vec[:, 1]
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": target, "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        return xquat_pose(s, self.obj_body)  # the body's MuJoCo quaternion, not objGeom's


__all__ = ["Sweep", "SweepClass"]
