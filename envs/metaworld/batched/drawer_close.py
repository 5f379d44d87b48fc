"""drawer-close-v3 (``SawyerDrawerCloseEnvV3``): push the open drawer shut.

Task: ``rand_vec = (drawer x, y, z)``, the drawer's body position; the goal (the handle of the
closed drawer) is ``rand_vec + (0, -0.16, 0.09)``. Each episode starts with the drawer pulled
out by 0.15. Reward v2: ``10 * hamacher(hamacher(reach, closing effort), in_place)`` (reach: a
Gaussian of the gripper's distance to the handle), 10 on success (handle within 0.065 of the goal).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .drawer import DrawerClass
from .mixed import select, value
from .rewards import gripper_closed, hamacher_product, norm, tolerance
from .sawyer import Episode, SimView, with_zero_quat

GOAL_OFFSET = (0.0, -0.16, 0.09)
HANDLE_REACH_RADIUS = 0.005


class DrawerClose(DrawerClass):
    """Meta-World's drawer-close-v3 over a batch of worlds."""

    name = "drawer-close-v3"
    handle_offset = (0.0, -0.16, 0.05)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.slide_qpos = 9  # the drawer's slide (``_set_obj_xyz`` writes qpos[9])
        self.target_radius = float(env.TARGET_RADIUS)
        self.success_radius = env.TARGET_RADIUS + 0.015
        self.goal_offset = self.const(GOAL_OFFSET)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        s.qpos[ids, self.slide_qpos] = -self.max_dist  # pulled out all the way (velocities kept, as the reference)
        s.forward(ids)
        obj_init_pos = self.handle(s)[ids]
        return {"target_pos": rand_vec + self.goal_offset, "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        return with_zero_quat(self.handle(s))

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, target, obj_init_pos = obs[:, 4:7], ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        target_to_obj = norm(obj - target)
        target_to_obj_init = norm(obj_init_pos - target)
        in_place = tolerance(
            target_to_obj, (0.0, self.target_radius), (target_to_obj_init - self.target_radius).abs(), "long_tail"
        )
        tcp_to_obj = norm(obj - tcp)
        tcp_to_obj_init = norm(obj_init_pos - ep["init_tcp"])
        reach = tolerance(
            tcp_to_obj, (0.0, HANDLE_REACH_RADIUS), (tcp_to_obj_init - HANDLE_REACH_RADIUS).abs(), "gaussian"
        )
        reach = hamacher_product(reach, gripper_closed(action, in_place))  # float32 where the effort entered
        reward = hamacher_product(reach, in_place)
        success = target_to_obj <= self.success_radius
        reward = value(select(success, 1.0, reward) * 10)
        info = {
            "success": success.to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.01).to(obs.dtype),
            "grasp_success": torch.ones_like(reward),
            "grasp_reward": value(reach),
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["DrawerClose"]
