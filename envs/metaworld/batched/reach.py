"""reach-v3 (``SawyerReachEnvV3``): move the gripper to a goal in the air; the puck stays put.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``. Reward v2: ``10 * tolerance(|tcp - goal|,
(0, 0.05), margin=|hand start - goal|, long_tail)``; success when the gripper centre is within
0.05 of the goal.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .puck import PuckClass
from .rewards import norm, tolerance
from .sawyer import Episode, SimView


class Reach(PuckClass):
    """Meta-World's reach-v3 over a batch of worlds."""

    name = "reach-v3"
    rand_vec_size = 6
    target_radius = 0.05

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos, target = rand_vec[:, :3], rand_vec[:, 3:]
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": target, "obj_init_pos": obj_init_pos}

    def reach(self, s: SimView, ep: Episode) -> tuple[Tensor, Tensor, Tensor]:
        """The gripper centre's distance to the goal, ``in_place`` and the reward (reach, reach-wall)."""
        target = ep["target_pos"]
        tcp_to_target = norm(self.tcp_center(s) - target)
        margin = norm(self.hand_init_pos - target)
        in_place = tolerance(tcp_to_target, (0.0, self.target_radius), margin, "long_tail")
        return tcp_to_target, in_place, 10 * in_place

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        tcp_to_target, in_place, reward = self.reach(s, ep)
        info = {
            "success": (tcp_to_target <= self.target_radius).to(reward.dtype),
            "near_object": tcp_to_target,
            "grasp_success": torch.ones_like(reward),
            "grasp_reward": tcp_to_target,
            "in_place_reward": in_place,
            "obj_to_target": tcp_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["Reach"]
