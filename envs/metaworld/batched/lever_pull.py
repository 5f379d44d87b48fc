"""lever-pull-v3 (``SawyerLeverPullEnvV3``): lift the lever until it points straight up.

Task: ``rand_vec = (lever x, y, z)``, the lever's body position; the lever's end starts at
``rand_vec + (0.12, -LEVER_RADIUS, 0.25)`` and the goal is ``rand_vec + (0.12, 0, 0.25 +
LEVER_RADIUS)``. Reward v2: ``10 * hamacher(ready_to_lift, in_place)`` (ready_to_lift: the
arm's "shoulder", an offset from the gripper, under the lever's end; in_place: that end's
distance to the goal); success when the lever's angle is within 7.5 degrees of vertical.

The reset writes no state after the hand settled (no forward pass), so the reset observation
reads the poses the settling left (``settled.keep_settled_poses``).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView, quat_from_matrix
from .settled import keep_settled_poses

SHOULDER_SCALE = (4.0, 1.0, 4.0)  # y weighs less: the shoulder gets under the lever before it bumps it
SHOULDER_OFFSET = (0.0, 0.055, 0.07)  # the shoulder, from the gripper


class LeverPull(SawyerClass):
    """Meta-World's lever-pull-v3 over a batch of worlds."""

    name = "lever-pull-v3"
    rand_vec_size = 3
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.lever_body = self.body_id("lever")
        self.lever_start = self.site_id("leverStart")
        self.lever_geom = self.geom_id("objGeom")
        self.lever_qpos = self.joint_qpos("LeverAxis")
        radius = float(env.LEVER_RADIUS)
        self.start_offset = self.const((0.12, -radius, 0.25))  # ``_lever_pos_init``, from the lever's body
        self.goal_offset = self.const((0.12, 0.0, 0.25 + radius))
        self.scale = self.const(SHOULDER_SCALE)
        self.shoulder_offset = self.const(SHOULDER_OFFSET)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.lever_body] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        keep_settled_poses(s, ids, settled)
        return {"target_pos": rand_vec + self.goal_offset, "obj_init_pos": rand_vec, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        geom = quat_from_matrix(s.geom_xmat[:, self.lever_geom])
        return torch.cat((s.site_xpos[:, self.lever_start], geom), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        gripper, lever, target = obs[:, :3], obs[:, 4:7], ep["target_pos"]
        lever_init = ep["obj_init_pos"] + self.start_offset
        shoulder_to_lever = norm((gripper + self.shoulder_offset - lever) * self.scale)
        shoulder_to_lever_init = norm((ep["init_tcp"] + self.shoulder_offset - lever_init) * self.scale)
        ready_to_lift = tolerance(shoulder_to_lever, (0.0, 0.02), shoulder_to_lever_init, "long_tail")
        lever_angle = -s.qpos[:, self.lever_qpos]
        lever_error = (lever_angle - math.pi / 2.0).abs()
        # Past 15 degrees from horizontal the lift is deliberate: the margin ends there.
        engagement = tolerance(lever_error, (0.0, math.pi / 48.0), (math.pi / 2.0) - (math.pi / 12.0), "long_tail")
        in_place_margin = norm(lever_init - target)
        in_place = tolerance(norm(lever - target), (0.0, 0.04), in_place_margin, "long_tail")
        reward = 10.0 * hamacher_product(ready_to_lift, in_place)
        info = {
            "success": (lever_error <= math.pi / 24).to(obs.dtype),
            "near_object": (shoulder_to_lever < 0.03).to(obs.dtype),
            "grasp_success": (ready_to_lift > 0.9).to(obs.dtype),
            "grasp_reward": ready_to_lift,
            "in_place_reward": engagement,
            "obj_to_target": shoulder_to_lever,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["LeverPull"]
