"""drawer-open-v3 (``SawyerDrawerOpenEnvV3``): pull the drawer out by its handle.

Task: ``rand_vec = (drawer x, y, z)``, the drawer's body position; the goal (the handle of the
drawer pulled out by ``maxDist``) is ``rand_vec + (0, -0.16 - maxDist, 0.09)``. The drawer starts
closed, as the model holds it. Reward v2: ``5 * (caging + opening)`` (caging: the gripper's
distance to the handle with x and y weighted 3 times; opening: the handle's distance to the
goal), with no bonus at success: the handle within 0.03 of the goal.

The reset writes no state after the hand settled (no forward pass), so the reset observation
reads the poses the settling left (``settled.keep_settled_poses``).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .drawer import DrawerClass
from .rewards import norm, tolerance
from .sawyer import Episode, SimView
from .settled import keep_settled_poses

GOAL_HEIGHT = 0.09  # the goal above the drawer's body
CAGING_SCALE = (3.0, 3.0, 1.0)  # x and y errors weigh more: the gripper drops down onto the handle
OPENING_RADIUS = 0.02
CAGING_RADIUS = 0.01
SUCCESS_RADIUS = 0.03


class DrawerOpen(DrawerClass):
    """Meta-World's drawer-open-v3 over a batch of worlds."""

    name = "drawer-open-v3"
    handle_offset = (0.0, -0.16, 0.0)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.goal_offset = self.const((0.0, -0.16 - self.max_dist, GOAL_HEIGHT))
        self.closed_offset = self.const((0.0, self.max_dist, 0.0))  # the goal -> the closed drawer's handle
        self.scale = self.const(CAGING_SCALE)
        # The link only slides: its orientation (``xquat``, MuJoCo's (w, x, y, z)) is the model's.
        self.link_quat = self.const(np.array(env.data.body("drawer_link").xquat))

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        keep_settled_poses(s, ids, settled)
        return {"target_pos": rand_vec + self.goal_offset, "obj_init_pos": rand_vec, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        handle = self.handle(s)
        return torch.cat((handle, self.link_quat.expand(handle.shape[0], 4)), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        gripper, handle, target = obs[:, :3], obs[:, 4:7], ep["target_pos"]
        handle_error = norm(handle - target)
        opening = tolerance(handle_error, (0.0, OPENING_RADIUS), self.max_dist, "long_tail")
        handle_init = target + self.closed_offset
        gripper_error = (handle - gripper) * self.scale
        gripper_error_init = (handle_init - ep["init_tcp"]) * self.scale
        caging = tolerance(norm(gripper_error), (0.0, CAGING_RADIUS), norm(gripper_error_init), "long_tail")
        reward = (caging + opening) * 5.0
        info = {
            "success": (handle_error <= SUCCESS_RADIUS).to(obs.dtype),
            "near_object": (norm(handle - gripper) <= 0.03).to(obs.dtype),
            "grasp_success": (obs[:, 3] > 0).to(obs.dtype),
            "grasp_reward": caging,
            "in_place_reward": opening,
            "obj_to_target": handle_error,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["DrawerOpen"]
