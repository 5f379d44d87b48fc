"""bin-picking-v3 (``SawyerBinPickingEnvV3``): pick the cube up from one bin and drop it into the other.

Task: ``rand_vec = (cube x, y, z, goal x, y, z)``; the cube starts at ``(x, y)``, at the height it
has after the hand settled; the goal part is unused: the goal is the target bin's body
``bin_goal``. The observed object is the cube's body, with its MuJoCo quaternion. Reward v2: the
Hamacher product of the caging reward (high density, a closing effort of 0.7 is full) and
``in_place`` (the cube's distance to the goal, its margin that distance at the episode's first
step); once the hand holds the cube above its start, open wider than 0.43, ``1 + 5 *
hamacher(above_floor, in_place)`` more (``above_floor``: 1 while the hand stays above two
funnels, around the cube's start and the goal, that keep it off the bins' walls); 10 within
0.05 of the goal, which is also success. The margin is an episode constant named as the
reference's attribute, ``_target_to_obj_init``: NaN from the reset until the first step sets it.

``grasp_success`` (that hold) needs no contacts and is computed.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .mixed import select, value
from .pick_out_of_hole import above_floor, funnel_floor
from .puck import XquatPuck
from .rewards import gripper_caging, hamacher_product, norm, tolerance
from .sawyer import Episode, SimView

FUNNEL = (0.03, 0.02, 0.2)  # floor: 0 within 0.03 of a funnel's axis, else 0.02 * log(r - 0.03) + 0.2
PINCHED = 0.43  # a gripper opening below this holds nothing
#: The in_place margin, set by the reference at the episode's first reward (``None`` until then).
MARGIN_KEY = "_target_to_obj_init"


class BinPicking(XquatPuck):
    """Meta-World's bin-picking-v3 over a batch of worlds."""

    name = "bin-picking-v3"
    rand_vec_size = 6

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.bin_goal = self.body_id("bin_goal")
        self.target_radius = float(env.TARGET_RADIUS)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        height = settled["xpos"][:, self.obj_body, 2:3]  # the cube after the hand settled
        obj_init_pos = torch.cat((rand_vec[:, :2], height), dim=-1)
        self.set_puck(s, ids, obj_init_pos)
        return {
            "target_pos": s.xpos[ids, self.bin_goal],  # the reference's goal: the bin's body frame
            "obj_init_pos": obj_init_pos,
            "init_tcp": settled["init_tcp"],
            MARGIN_KEY: torch.full_like(height[:, 0], float("nan")),  # not yet set: the first step sets it
        }

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        hand, obj = obs[:, :3], obs[:, 4:7]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        target_to_obj = norm(obj - target)
        # The reference keeps the first step's distance as the margin of in_place for the episode.
        margin = ep[MARGIN_KEY]
        margin.copy_(torch.where(torch.isnan(margin), target_to_obj.to(margin.dtype), margin))
        in_place = tolerance(target_to_obj, (0.0, self.target_radius), margin, "long_tail")
        floor = torch.minimum(
            funnel_floor(norm(hand[:, :2] - obj_init_pos[:, :2]), *FUNNEL),
            funnel_floor(norm(hand[:, :2] - target[:, :2]), *FUNNEL),
        )
        over_floor = above_floor(hand[:, 2], floor, 0.05)
        tcp = self.tcp_center(s)
        object_grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.015, pad_success_thresh=0.05, object_reach_radius=0.01, xz_thresh=0.01,
            desired_gripper_effort=0.7, high_density=True,
        )  # fmt: skip
        reward = hamacher_product(object_grasped, in_place)  # float32 where the closing effort entered
        near_object = norm(obj - hand) < 0.04
        grasped = near_object & (obj[:, 2] - 0.02 > obj_init_pos[:, 2]) & ~(obs[:, 3] < PINCHED)
        reward = select(grasped, reward + (1.0 + 5.0 * hamacher_product(over_floor, in_place)), reward)
        reward = value(select(target_to_obj < self.target_radius, 10.0, reward))
        info = {
            "success": (target_to_obj <= 0.05).to(obs.dtype),
            "near_object": near_object.to(obs.dtype),
            "grasp_success": grasped.to(obs.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["BinPicking"]
