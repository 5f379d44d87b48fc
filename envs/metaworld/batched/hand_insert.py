"""hand-insert-v3 (``SawyerHandInsertEnvV3``): put the puck into the hole in the table.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck starts at ``(x, y)`` at the class's
starting height (its ``z`` is unused), the goal is the second triple, in the hole below the
table. The observed object is the puck's body, with its MuJoCo quaternion. Reward v2: the
Hamacher product of the caging reward (high density) and ``in_place`` (the puck's distance to
the goal), plus ``1 + 7 * in_place`` while the gripper is at the puck and open, 10 within 0.05
of the goal, which is also success.

``grasp_success`` is not computed: it needs the contact forces between each pad and the puck
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .mixed import select, value
from .puck import XquatPuck
from .rewards import gripper_caging, hamacher_product, norm, tolerance
from .sawyer import Episode, SimView


class HandInsert(XquatPuck):
    """Meta-World's hand-insert-v3 over a batch of worlds."""

    name = "hand-insert-v3"
    rand_vec_size = 6
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.target_radius = float(env.TARGET_RADIUS)
        # The puck's start height: the reference keeps the z of its initial obj_init_pos.
        self.obj_z = float(env.init_config["obj_init_pos"][-1])

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = torch.cat((rand_vec[:, :2], torch.full_like(rand_vec[:, :1], self.obj_z)), dim=-1)
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": rand_vec[:, 3:], "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        target_to_obj = norm(obj - target)
        in_place = tolerance(target_to_obj, (0.0, self.target_radius), norm(obj_init_pos - target), "long_tail")
        tcp = self.tcp_center(s)
        object_grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.015, pad_success_thresh=0.05, object_reach_radius=0.01, xz_thresh=0.005, high_density=True,
        )  # fmt: skip
        reward = hamacher_product(object_grasped, in_place)  # float32 where the closing effort entered
        tcp_to_obj = norm(obj - tcp)
        at_puck = (tcp_to_obj < 0.02) & (tcp_opened > 0)
        reward = select(at_puck, reward + (1.0 + 7.0 * in_place), reward)
        reward = value(select(target_to_obj < self.target_radius, 10.0, reward))
        info = {
            "success": (target_to_obj <= 0.05).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["HandInsert"]
