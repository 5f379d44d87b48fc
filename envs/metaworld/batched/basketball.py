"""basketball-v3 (``SawyerBasketballEnvV3``): pick the ball up and drop it through the hoop.

Task: ``rand_vec = (ball x, y, z, basket x, y, z)``; the ball starts at ``(x, y)`` at the model's
height (its ``z`` is unused), the basket's body is placed at the second triple, and the goal is
the hoop (the ``goal`` site). Reward v2: the Hamacher product of the caging reward (high density;
1 once the ball is held above the table) and ``in_place`` (the ball's distance to a point 0.3
above the table under the hoop, z weighted twice), plus ``1 + 5 * in_place`` while the ball is
held, 10 on success (within 0.08 of that point, weighted).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .mixed import select, value
from .puck import set_obj_xyz, xquat_pose
from .rewards import gripper_caging, hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView

AIM_HEIGHT = 0.3  # the reward's target: under the hoop at this height
SCALE = (1.0, 1.0, 2.0)  # the ball's distance to it weights z twice


class Basketball(SawyerClass):
    """Meta-World's basketball-v3 over a batch of worlds."""

    name = "basketball-v3"
    rand_vec_size = 6
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.ball = self.body_id("bsktball")
        self.basket = self.body_id("basket_goal")
        # Farama's goal is a live view of the goal site's position, a site MuJoCo keeps at the
        # frame of its body (the hoop) whatever position Farama writes into the model's site.
        self.hoop = self.body_id("hooplink")
        self.target_radius = float(env.TARGET_RADIUS)
        self.obj_z = float(env.init_config["obj_init_pos"][-1])  # a float32 in the reference, widened
        self.scale = self.const(SCALE)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.basket] = rand_vec[:, 3:].to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = torch.cat((rand_vec[:, :2], torch.full_like(rand_vec[:, :1], self.obj_z)), dim=-1)
        set_obj_xyz(s, ids, obj_init_pos)
        return {"target_pos": s.xpos[ids, self.hoop], "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        return xquat_pose(s, self.ball)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        obj_init_pos = ep["obj_init_pos"]
        target = ep["target_pos"].clone()
        target[:, 2] = AIM_HEIGHT
        radius = self.target_radius
        target_to_obj = norm((obj - target) * self.scale)
        target_to_obj_init = norm((obj_init_pos - target) * self.scale)
        in_place = tolerance(target_to_obj, (0.0, radius), target_to_obj_init, "long_tail")
        tcp = self.tcp_center(s)
        tcp_to_obj = norm(obj - tcp)
        caging = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.025, pad_success_thresh=0.06, object_reach_radius=0.01, xz_thresh=0.005, high_density=True,
        )  # fmt: skip
        held = (tcp_to_obj < 0.035) & (tcp_opened > 0) & (obj[:, 2] - 0.01 > obj_init_pos[:, 2])
        object_grasped = select(held, 1.0, caging)
        reward = hamacher_product(object_grasped, in_place)  # float32 where the closing effort entered
        reward = select(held, reward + (1.0 + 5.0 * in_place), reward)
        reward = value(select(target_to_obj < radius, 10.0, reward))
        info = {
            "success": (target_to_obj <= radius).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.05).to(obs.dtype),
            "grasp_success": ((tcp_opened > 0) & (obj[:, 2] - 0.03 > obj_init_pos[:, 2])).to(obs.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["Basketball"]
