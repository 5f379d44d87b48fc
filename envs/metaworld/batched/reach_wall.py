"""reach-wall-v3 (``SawyerReachWallEnvV3``): reach a goal in the air behind a wall; the puck stays put.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck is placed at ``(x, y, z)`` at rest and
the goal is ``(goal x, y, z)``. Reward v2: ``10 * tolerance(|tcp - goal|, (0, 0.05), margin=|hand
start - goal|, long_tail)``; success when the gripper centre is within 0.05 of the goal. Farama's
``near_object``, ``grasp_success`` and ``grasp_reward`` are the constant 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .puck import PuckClass
from .rewards import norm, tolerance
from .sawyer import Episode, SimView

TARGET_RADIUS = 0.05


class ReachWall(PuckClass):
    """Meta-World's reach-wall-v3 over a batch of worlds."""

    name = "reach-wall-v3"
    rand_vec_size = 6

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos, target = rand_vec[:, :3], rand_vec[:, 3:]
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": target, "obj_init_pos": obj_init_pos}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        target = ep["target_pos"]
        tcp_to_target = norm(self.tcp_center(s) - target)
        margin = norm(self.hand_init_pos - target)
        in_place = tolerance(tcp_to_target, (0.0, TARGET_RADIUS), margin, "long_tail")
        reward = 10 * in_place
        zero = torch.zeros_like(reward)
        info = {
            "success": (tcp_to_target <= TARGET_RADIUS).to(reward.dtype),
            "near_object": zero,
            "grasp_success": zero,
            "grasp_reward": zero,
            "in_place_reward": in_place,
            "obj_to_target": tcp_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["ReachWall"]
