"""handle-press-v3 (``SawyerHandlePressEnvV3``): press the handle down.

Task: ``rand_vec = (box x, y, z)``, the box's body position; the handle starts up (its joint at
-0.001) and the goal is the box's ``goalPress`` site. The observed object is the ``handleStart``
site. Reward v2: ``10 * hamacher(reach, in_place)`` (reach: the gripper centre within 0.02 of the
handle; in_place: the handle's height against the goal's), 10 on success (the handle within
``TARGET_RADIUS`` of the goal in height).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .handles import HandleClass
from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SimView

HANDLE_RADIUS = 0.02


class HandlePress(HandleClass):
    """Meta-World's handle-press-v3 over a batch of worlds."""

    name = "handle-press-v3"
    observed_site = "handleStart"
    goal_site = "goalPress"
    handle_init = -0.001

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        target = self.set_handle(s, ids)
        return {"target_pos": target, "_handle_init_pos": self.handle(s)[ids], "init_tcp": settled["init_tcp"]}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = self.handle(s)  # the reference reads the site, not the (unclipped) observation
        target, handle_init, radius = ep["target_pos"], ep["_handle_init_pos"], self.target_radius
        target_to_obj = (obj[:, 2] - target[:, 2]).abs()
        target_to_obj_init = (handle_init[:, 2] - target[:, 2]).abs()
        in_place = tolerance(target_to_obj, (0.0, radius), (target_to_obj_init - radius).abs(), "long_tail")
        tcp_to_obj = norm(obj - self.tcp_center(s))
        tcp_to_obj_init = norm(handle_init - ep["init_tcp"])
        reach = tolerance(tcp_to_obj, (0.0, HANDLE_RADIUS), (tcp_to_obj_init - HANDLE_RADIUS).abs(), "long_tail")
        success = target_to_obj <= radius
        reward = 10 * torch.where(success, 1.0, hamacher_product(reach, in_place))
        info = {
            "success": success.to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.05).to(obs.dtype),
            "grasp_success": torch.ones_like(reward),  # the reference's constant
            "grasp_reward": reach,
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["HandlePress"]
