"""pick-place-wall-v3 (``SawyerPickPlaceWallEnvV3``): pick the puck up, over the wall, to a goal behind it.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck starts at the first triple, the goal
is the second. The observed object is the puck's geom ``objGeom``. Reward v2: the Hamacher
product of the caging reward (low density) and ``in_place_1`` (the puck's distance to a point
above the wall, ``(goal x, 0.77, 0.25)``, z weighted 3 times); while the puck is held above its
start, ``1 + 4 * in_place_1`` more, or, once past the wall (``y > 0.75``), ``1 + 4 + 3 *
in_place_2`` (``in_place_2``: the distance to the goal); 10 within 0.05 of the goal; success
within 0.07.

``grasp_success`` is not computed: it needs the contact forces between each pad and the puck
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .mixed import select, value
from .puck import PuckClass
from .rewards import gripper_caging, hamacher_product, norm, tolerance
from .sawyer import Episode, SimView, quat_from_matrix

TARGET_RADIUS = 0.05
OVER_WALL = (0.77, 0.25)  # y and z of the point above the wall that in_place_1 leads to
IN_PLACE_SCALE = (1.0, 1.0, 3.0)  # the distance to it weights z 3 times: up first
PAST_WALL_Y = 0.75  # beyond this y the puck is past the wall: in_place_2 takes over
SUCCESS_RADIUS = 0.07


class PickPlaceWall(PuckClass):
    """Meta-World's pick-place-wall-v3 over a batch of worlds."""

    name = "pick-place-wall-v3"
    rand_vec_size = 6
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = rand_vec[:, :3]
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": rand_vec[:, 3:], "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        # This class observes the geom's position (at the body's origin in the model), not the body's.
        return torch.cat((s.geom_xpos[:, self.obj_geom], quat_from_matrix(s.geom_xmat[:, self.obj_geom])), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        scale = self.const(IN_PLACE_SCALE)
        over_wall = torch.cat((target[:, :1], self.const(OVER_WALL).expand(len(target), 2)), dim=-1)
        tcp_to_obj = norm(obj - tcp)
        obj_to_over_wall = norm((obj - over_wall) * scale)
        obj_to_over_wall_init = norm((obj_init_pos - over_wall) * scale)
        obj_to_target = norm(obj - target)
        obj_to_target_init = norm(obj_init_pos - target)
        in_place_1 = tolerance(obj_to_over_wall, (0.0, TARGET_RADIUS), obj_to_over_wall_init, "long_tail")
        in_place_2 = tolerance(obj_to_target, (0.0, TARGET_RADIUS), obj_to_target_init, "long_tail")
        object_grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.015, pad_success_thresh=0.05, object_reach_radius=0.01, xz_thresh=0.005,
        )  # fmt: skip
        grasped_in_place = hamacher_product(object_grasped, in_place_1)  # float32 where the effort entered
        held = (tcp_to_obj < 0.02) & (tcp_opened > 0) & (obj[:, 2] - 0.015 > obj_init_pos[:, 2])
        # The reference's sums, left to right, as written: (x + 1.0) + 4.0 * p, ((x + 1.0) + 4.0) + 3.0 * p.
        toward_wall = grasped_in_place + 1.0 + 4.0 * in_place_1
        past_wall = grasped_in_place + 1.0 + 4.0 + 3.0 * in_place_2
        held_reward = select(obj[:, 1] > PAST_WALL_Y, past_wall, toward_wall)
        reward = select(held, held_reward, grasped_in_place)
        reward = value(select(obj_to_target < TARGET_RADIUS, 10.0, reward))
        info = {
            "success": (obj_to_target <= SUCCESS_RADIUS).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place_2,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["PickPlaceWall"]
