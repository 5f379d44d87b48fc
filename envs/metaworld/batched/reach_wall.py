"""reach-wall-v3 (``SawyerReachWallEnvV3``): reach a goal in the air behind a wall; the puck stays put.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck is placed at ``(x, y, z)`` at rest and
the goal is ``(goal x, y, z)``. Reward v2: ``10 * tolerance(|tcp - goal|, (0, 0.05), margin=|hand
start - goal|, long_tail)``; success when the gripper centre is within 0.05 of the goal. Farama's
``near_object``, ``grasp_success`` and ``grasp_reward`` are the constant 0.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .reach import Reach
from .sawyer import Episode, SimView


class ReachWall(Reach):
    """Meta-World's reach-wall-v3 over a batch of worlds."""

    name = "reach-wall-v3"

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        tcp_to_target, in_place, reward = self.reach(s, ep)
        zero = torch.zeros_like(reward)
        info = {
            "success": (tcp_to_target <= self.target_radius).to(reward.dtype),
            "near_object": zero,
            "grasp_success": zero,
            "grasp_reward": zero,
            "in_place_reward": in_place,
            "obj_to_target": tcp_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["ReachWall"]
