"""door-open-v3 (``SawyerDoorEnvV3``): pull the door open by its handle.

Task: ``rand_vec = (door x, y, z)``, the door's body position; the goal is
``rand_vec + (-0.3, -0.45, 0)``. Reward v2: ``2 * hamacher(ready_to_open, grab effort) + 8 *
opened`` (the hand above a funnel-shaped floor around the handle and between handle and door;
the door's angle), 10 on success (the handle within 0.08 of the goal in x).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .door import DoorClass
from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SimView


class DoorOpen(DoorClass):
    """Meta-World's door-open-v3 over a batch of worlds."""

    name = "door-open-v3"
    start_angle = 0.0  # closed
    goal_offset = (-0.3, -0.45, 0.0)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.handle_offset = self.const((-0.05, 0.0, 0.0))
        self.in_place_offset = self.const((0.05, 0.03, -0.01))

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        dtype = obs.dtype
        theta = s.qpos[:, self.door_qpos]
        grab = ((action[:, 3].clamp(-1.0, 1.0) + 1.0) / 2.0).to(dtype)  # in float32, as the reference
        ready, opened = self._reward_pos(obs, theta)
        reward = 2.0 * hamacher_product(ready, grab) + 8.0 * opened
        success = (obs[:, 4] - ep["target_pos"][:, 0]).abs() <= 0.08
        reward = torch.where(success, 10.0, reward)
        info = {
            "success": success.to(dtype),
            "near_object": ready,
            "grasp_success": (grab >= 0.5).to(dtype),
            "grasp_reward": grab,
            "in_place_reward": opened,
            "obj_to_target": torch.zeros_like(reward),
            "unscaled_reward": reward,
        }
        return reward, info

    def _reward_pos(self, obs: Tensor, theta: Tensor) -> tuple[Tensor, Tensor]:
        hand = obs[:, :3]
        door = obs[:, 4:7] + self.handle_offset
        threshold = 0.12
        # A funnel-shaped floor around the handle keeps the hand from hitting it on the way in.
        radius = norm(hand[:, :2] - door[:, :2])
        floor = torch.where(radius <= threshold, 0.0, 0.04 * torch.log(radius - threshold) + 0.4)
        below = tolerance(floor - hand[:, 2], (0.0, 0.01), floor / 2.0, "long_tail")
        above_floor = torch.where(hand[:, 2] >= floor, 1.0, below)
        in_place = tolerance(norm(hand - door - self.in_place_offset), (0.0, threshold / 2.0), 0.5, "long_tail")
        ready = hamacher_product(above_floor, in_place)
        door_angle = -theta
        opened = 0.2 * (theta < -math.pi / 90.0).to(obs.dtype) + 0.8 * tolerance(
            math.pi / 2.0 + math.pi / 6 - door_angle, (0.0, 0.5), math.pi / 3.0, "long_tail"
        )
        return ready, opened


__all__ = ["DoorOpen"]
