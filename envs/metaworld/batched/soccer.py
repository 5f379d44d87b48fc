"""soccer-v3 (``SawyerSoccerEnvV3``): push the ball into the goal.

Task: ``rand_vec = (ball x, y, z, goal x, y, z)``; the ball starts at ``(x, y)`` at the class's
starting height (its ``z`` is unused), the goal's body is placed at the second triple, which is
also the target. Reward v2: ``3 * caging + 6.5 * in_place`` (the class's own caging reward: pads
around the ball in y, gripper centre over it in x-z, without the closing effort; ``in_place``:
the ball's distance to the target, x weighted 3 times, its margin the ball's distance to its
start, lowered once the ball is past the goal line off to the side); 10 when that weighted
distance is below 0.07. Success: the ball within 0.07 of the target (unweighted).

``grasp_success`` is not computed: it needs the contact forces between each pad and the ball
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .kinematics import normalize, quat_to_mat
from .puck import OBJ_QUAT, set_obj_xyz
from .rewards import norm, pad_grip_caging, tolerance
from .sawyer import Episode, SawyerClass, SimView, quat_from_matrix

X_SCALE = (3.0, 1.0, 1.0)  # in_place weighs the x error 3 times
GRIP_MARGIN = 0.01  # the gripping bounds reach this much beyond the ball's radius
XZ_SUCCESS_MARGIN = 0.005
GOAL_LINE = 0.1  # in front of the target; past it, and off to the side by more than
SIDE = 0.1  # this, in_place is lowered


class Soccer(SawyerClass):
    """Meta-World's soccer-v3 over a batch of worlds."""

    name = "soccer-v3"
    rand_vec_size = 6
    model_fields = ("body_pos",)
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.ball = self.body_id("soccer_ball")
        self.goal_body = self.body_id("goal_whole")
        self.obj_radius = float(env.OBJ_RADIUS)
        self.target_radius = float(env.TARGET_RADIUS)
        # The ball's start height: the reference keeps the z of its initial obj_init_pos.
        self.obj_z = float(env.init_config["obj_init_pos"][-1])
        self.scale = self.const(X_SCALE)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.goal_body] = rand_vec[:, 3:].to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = torch.cat((rand_vec[:, :2], torch.full_like(rand_vec[:, :1], self.obj_z)), dim=-1)
        set_obj_xyz(s, ids, obj_init_pos)
        return {"target_pos": rand_vec[:, 3:], "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        # The body's position and SciPy's quaternion of its frame (xmat, from the free joint's quaternion).
        rotation = quat_to_mat(normalize(s.qpos[:, OBJ_QUAT]))
        return torch.cat((s.xpos[:, self.ball], quat_from_matrix(rotation)), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = obs[:, 4:7]
        target = ep["target_pos"]
        tcp_to_obj = norm(obj - self.tcp_center(s))
        target_to_obj = norm((obj - target) * self.scale)
        # The reference's margin is the ball's distance to its start (now, not at the start: 0 there).
        target_to_obj_init = norm((obj - ep["obj_init_pos"]) * self.scale)
        in_place = tolerance(target_to_obj, (0.0, self.target_radius), target_to_obj_init, "long_tail")
        goal_line = target[:, 1] - GOAL_LINE
        off_side = (obj[:, 1] > goal_line) & ((obj[:, 0] - target[:, 0]).abs() > SIDE)
        lowered = (in_place - 2 * ((obj[:, 1] - goal_line) / (1 - goal_line))).clamp(0.0, 1.0)
        in_place = torch.where(off_side, lowered, in_place)
        object_grasped = pad_grip_caging(  # the class's own _gripper_caging_reward
            obj, self.tcp_center(s), *self.pads(s), ep["obj_init_pos"], ep["init_tcp"],
            obj_radius=self.obj_radius, grip_margin=GRIP_MARGIN, xz_success_margin=XZ_SUCCESS_MARGIN,
        )  # fmt: skip
        reward = (3 * object_grasped) + (6.5 * in_place)
        reward = torch.where(target_to_obj < self.target_radius, 10.0, reward)
        obj_to_target = norm(obj - target)
        info = {
            "success": (obj_to_target <= 0.07).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_reward": object_grasped,
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["Soccer"]
