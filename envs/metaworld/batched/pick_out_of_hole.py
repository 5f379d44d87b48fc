"""pick-out-of-hole-v3 (``SawyerPickOutOfHoleEnvV3``): pick the puck out of a hole in the table, up to a goal.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck starts at the first triple (in the
hole), the goal is the second, in the air. The observed object is the puck's body, with its
MuJoCo quaternion. Reward v2: the Hamacher product of the caging reward (high density, a
closing effort of 0.1 is full) and ``in_place`` (the puck's distance to the goal); once the
gripper holds the puck above its start, open wider than 0.33, ``1 + 5 * hamacher(in_place,
above_floor)`` more (``above_floor``: 1 while the gripper stays above a funnel around the hole,
else falling off below it); 10 within 0.05 of the goal; success within 0.07.

``grasp_success`` (that hold) needs no contacts and is computed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .mixed import select, value
from .puck import XquatPuck
from .rewards import gripper_caging, hamacher_product, norm, tolerance
from .sawyer import Episode, SimView

IN_PLACE_RADIUS = 0.02
SUCCESS_RADIUS = 0.07
FUNNEL = (0.03, 0.015, 0.15)  # floor: 0 within 0.03 of the hole, else 0.015 * log(r - 0.03) + 0.15
PINCHED = 0.33  # a gripper opening below this holds nothing


def funnel_floor(radius: Tensor, threshold: float, slope: float, height: float) -> Tensor:
    """The reference's floor over the table, ``(n,)``: 0 within ``threshold`` of the funnel's
    axis, else ``slope * log(radius - threshold) + height``."""
    return torch.where(radius > threshold, slope * torch.log(radius - threshold) + height, 0.0)


def above_floor(z: Tensor, floor: Tensor, margin: float) -> Tensor:
    """1 where ``z`` is at or above ``floor``, else the long-tail tolerance of the depth below it
    (in bounds within 0.01, ``margin`` wide)."""
    below = tolerance((floor - z).clamp(min=0.0), (0.0, 0.01), margin, "long_tail")
    return torch.where(z >= floor, 1.0, below)


class PickOutOfHole(XquatPuck):
    """Meta-World's pick-out-of-hole-v3 over a batch of worlds."""

    name = "pick-out-of-hole-v3"
    rand_vec_size = 6

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.target_radius = float(env.TARGET_RADIUS)  # the success bonus's radius (the base class's)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = rand_vec[:, :3]
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": rand_vec[:, 3:], "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = obs[:, 4:7]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        obj_to_target = norm(obj - target)
        tcp_to_obj = norm(obj - tcp)
        in_place = tolerance(obj_to_target, (0.0, IN_PLACE_RADIUS), norm(obj_init_pos - target), "long_tail")
        floor = funnel_floor(norm(tcp[:, :2] - obj_init_pos[:, :2]), *FUNNEL)
        over_floor = above_floor(tcp[:, 2], floor, 0.02)
        object_grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.015, pad_success_thresh=0.02, object_reach_radius=0.01, xz_thresh=0.03,
            desired_gripper_effort=0.1, high_density=True,
        )  # fmt: skip
        reward = hamacher_product(object_grasped, in_place)  # float32 where the closing effort entered
        grasped = (tcp_to_obj < 0.04) & (obj[:, 2] - 0.02 > obj_init_pos[:, 2]) & ~(obs[:, 3] < PINCHED)
        reward = select(grasped, reward + (1.0 + 5.0 * hamacher_product(in_place, over_floor)), reward)
        reward = value(select(obj_to_target < self.target_radius, 10.0, reward))
        info = {
            "success": (obj_to_target <= SUCCESS_RADIUS).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_success": grasped.to(obs.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["PickOutOfHole", "above_floor", "funnel_floor"]
