"""door-close-v3 (``SawyerDoorCloseEnvV3``): push the open door shut.

Task: ``rand_vec = (door x, y, z)``, the door's body position; the goal is ``rand_vec + (0.2,
-0.2, 0)``. Each episode starts with the door open by 90 degrees. Reward v2: ``3 * hand_in_place
+ 6 * in_place`` (Gaussians of the gripper's distance to the goal and of the handle's), 10 when
the handle is within 0.05 of the goal; success within 0.08.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .door import DoorClass
from .rewards import norm, tolerance
from .sawyer import Episode, SimView

TARGET_RADIUS = 0.05


class DoorClose(DoorClass):
    """Meta-World's door-close-v3 over a batch of worlds."""

    name = "door-close-v3"
    start_angle = -1.5708  # held open
    goal_offset = (0.2, -0.2, 0.0)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, target = obs[:, 4:7], ep["target_pos"]
        tcp_to_target = norm(self.tcp_center(s) - target)
        obj_to_target = norm(obj - target)
        in_place_margin = norm(ep["obj_init_pos"] - target)
        in_place = tolerance(obj_to_target, (0.0, TARGET_RADIUS), in_place_margin, "gaussian")
        hand_margin = norm(self.hand_init_pos - obj) + 0.1
        hand_in_place = tolerance(tcp_to_target, (0.0, 0.25 * TARGET_RADIUS), hand_margin, "gaussian")
        reward = 3 * hand_in_place + 6 * in_place
        reward = torch.where(obj_to_target < TARGET_RADIUS, 10.0, reward)
        info = {
            "success": (obj_to_target <= 0.08).to(obs.dtype),
            "near_object": torch.zeros_like(reward),
            "grasp_success": torch.ones_like(reward),
            "grasp_reward": torch.ones_like(reward),
            "in_place_reward": hand_in_place,  # as the reference reports it
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["DoorClose"]
