"""shelf-place-v3 (``SawyerShelfPlaceEnvV3``): pick the puck up and place it on the shelf.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck starts at ``(x, y)``, at the height
it has after the hand settled; the shelf's body is at ``goal - (0, 0, 0.3)`` and the goal is the
model's goal site on it. Reward v2: ``hamacher(caging, in_place)`` (the gripper caging reward,
low density), ``in_place`` lowered in front of the shelf and zero behind it, plus ``1 + 5 *
in_place`` once the puck is held above its start, 10 when the puck is within 0.05 of the goal;
success within 0.07.

``grasp_success`` is not computed: it needs the contact forces between each pad and the puck
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .mixed import Mixed, select, value
from .puck import PuckClass
from .rewards import gripper_caging, hamacher_product, norm, tolerance
from .sawyer import Episode, SimView

TARGET_RADIUS = 0.05
SHELF_DROP = (0.0, 0.0, 0.3)  # the shelf's body, below the goal of the task
SHELF_TOP = 0.24  # below this height, in front of or behind the shelf, the puck is off its place
SHELF_HALF_WIDTH = 0.15


class ShelfPlace(PuckClass):
    """Meta-World's shelf-place-v3 over a batch of worlds."""

    name = "shelf-place-v3"
    rand_vec_size = 6
    model_fields = ("body_pos",)
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.shelf_body = self.body_id("shelf")
        self.drop = self.const(SHELF_DROP)
        # Farama's goal: the goal site's model position plus the shelf's (the env never moves the site).
        self.goal_on_shelf = self.const(np.array(env.model.site("goal").pos))

    def _shelf(self, rand_vec: Tensor) -> Tensor:
        return rand_vec[:, 3:6] - self.drop

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.shelf_body] = self._shelf(rand_vec).to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        height = settled["xpos"][:, self.obj_body, 2:3]  # the puck after the hand settled
        obj_init_pos = torch.cat((rand_vec[:, :2], height), dim=-1)
        self.set_puck(s, ids, obj_init_pos)
        target = self.goal_on_shelf + self._shelf(rand_vec)
        return {"target_pos": target, "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        obj_to_target = norm(obj - target)
        tcp_to_obj = norm(obj - tcp)
        in_place = tolerance(obj_to_target, (0.0, TARGET_RADIUS), norm(obj_init_pos - target), "long_tail")
        object_grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.02, pad_success_thresh=0.05, object_reach_radius=0.01, xz_thresh=0.01,
        )  # fmt: skip
        reward = hamacher_product(object_grasped, in_place)  # float32 where the effort entered (see mixed.py)
        in_place, front = self._shelf_bounds(obj, target, in_place)
        lifted = (tcp_to_obj < 0.025) & (tcp_opened > 0) & (obj[:, 2] - 0.01 > obj_init_pos[:, 2])
        bonus = 1.0 + 5.0 * in_place
        lifted_reward = reward + bonus
        # In front of the shelf in_place went through np.clip: a NumPy float64, so the sum is float64.
        wide = torch.where(front, value(reward) + bonus, lifted_reward.value)
        lifted_reward = Mixed(wide, lifted_reward.f32 & ~front)
        reward = select(lifted, lifted_reward, reward)
        reward = value(select(obj_to_target < TARGET_RADIUS, 10.0, reward))
        info = {
            "success": (obj_to_target <= 0.07).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info

    @staticmethod
    def _shelf_bounds(obj: Tensor, target: Tensor, in_place: Tensor) -> tuple[Tensor, Tensor]:
        """``in_place`` lowered in front of the shelf (the lower and nearer the puck, the more) and
        zero behind it, when the puck is below the shelf's top and within its width; and where it
        was lowered (``front``)."""
        x, y, z = obj.unbind(-1)
        near = 3 * TARGET_RADIUS
        within_width = (target[:, 0] - SHELF_HALF_WIDTH < x) & (x < target[:, 0] + SHELF_HALF_WIDTH)
        low = (0.0 < z) & (z < SHELF_TOP) & within_width
        front = low & (target[:, 1] - near < y) & (y < target[:, 1])
        z_scaling = (SHELF_TOP - z) / SHELF_TOP
        y_scaling = (y - (target[:, 1] - near)) / near
        bound_loss = hamacher_product(y_scaling, z_scaling)
        in_place = torch.where(front, (in_place - bound_loss).clamp(0.0, 1.0), in_place)
        in_place = torch.where(low & (y > target[:, 1]), 0.0, in_place)
        return in_place, front


__all__ = ["ShelfPlace"]
