"""dial-turn-v3 (``SawyerDialTurnEnvV3``): turn the dial a quarter turn by pushing its knob.

Task: ``rand_vec = (dial x, y, z)``, the dial's body position; the goal is ``rand_vec + (0, 0.03,
0.03)``. The observed point is on the dial's rim (radius 0.05, at the knob's angle); the gripper
pushes at ``rim + (0.05, 0.02, 0.09)``. Reward v2: ``10 * hamacher(hamacher(reach, gripper
closed), in_place)`` (reach: the gripper centre's distance to the push point; in_place: the rim
point's distance to the goal); success when the rim point is within ``TARGET_RADIUS`` of the goal.

The gripper's closing effort is a NumPy float32 in the reference, so the reward follows NumPy's
float32 arithmetic from there (``mixed``). The reset runs no forward pass after the hand settled:
the reset observation and the push point's start read the poses the settling left
(``settled.keep_settled_poses``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .mixed import value
from .rewards import gripper_closed, hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView, fixed_orientation
from .settled import keep_settled_poses

GOAL_OFFSET = (0.0, 0.03, 0.03)
PUSH_OFFSET = (0.05, 0.02, 0.09)  # where the gripper pushes, from the observed rim point
DIAL_RADIUS = 0.05
REACH_RADIUS = 0.005


class DialTurn(SawyerClass):
    """Meta-World's dial-turn-v3 over a batch of worlds."""

    name = "dial-turn-v3"
    rand_vec_size = 3
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.dial = self.body_id("dial")
        self.knob_qpos = self.joint_qpos("knob_Joint_1")
        self.target_radius = float(env.TARGET_RADIUS)
        self.goal_offset = self.const(GOAL_OFFSET)
        self.push_offset = self.const(PUSH_OFFSET)
        # The observed quaternion is the dial body's xquat: the knob turns in a child body.
        self.dial_quat = self.const(fixed_orientation(env.model, self.dial))

    def rim(self, s: SimView) -> Tensor:
        """The observed point (``_get_pos_objects``): the dial's centre plus the radius at the knob's angle."""
        angle = s.qpos[:, self.knob_qpos]
        offset = torch.stack((torch.sin(angle), -torch.cos(angle), torch.zeros_like(angle)), dim=-1) * DIAL_RADIUS
        return s.xpos[:, self.dial] + offset

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.dial] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        keep_settled_poses(s, ids, settled)
        return {
            "target_pos": rand_vec + self.goal_offset,
            "dial_push_position": self.rim(s)[ids] + self.push_offset,
            "init_tcp": settled["init_tcp"],
        }

    def objects(self, s: SimView) -> Tensor:
        rim = self.rim(s)
        return torch.cat((rim, self.dial_quat.expand(rim.shape[0], 4)), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = self.rim(s)  # the reference reads the state, not the (clipped) observation
        push = obj + self.push_offset
        target, start = ep["target_pos"], ep["dial_push_position"]
        radius = self.target_radius
        target_to_obj = norm(obj - target)
        # The margin measures from the push point's start, not the rim's (as the reference does).
        in_place = tolerance(target_to_obj, (0.0, radius), (norm(start - target) - radius).abs(), "long_tail")
        tcp_to_obj = norm(push - self.tcp_center(s))
        reach_margin = (norm(start - ep["init_tcp"]) - REACH_RADIUS).abs()
        reach = tolerance(tcp_to_obj, (0.0, REACH_RADIUS), reach_margin, "gaussian")
        grasped = hamacher_product(reach, gripper_closed(action, reach))  # float32 where the effort entered
        reward = value(10 * hamacher_product(grasped, in_place))
        info = {
            "success": (target_to_obj <= radius).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.01).to(obs.dtype),
            "grasp_success": torch.ones_like(reward),
            "grasp_reward": value(grasped),
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["DialTurn"]
