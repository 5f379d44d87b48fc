"""push-wall-v3 (``SawyerPushWallEnvV3``): push the puck around a wall to a goal on the table.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``; the puck starts at ``(x, y)`` and the goal
is at ``(goal x, goal y)``, both at the height the puck's geom has after the hand settled. The
puck is observed through its geom ``objGeom`` (position and orientation). Reward v2: twice the
gripper caging reward (high density); once the gripper holds the puck, plus ``1 + 4 *
in_place`` towards a midpoint beside the wall (x counted three times), or, past the wall (y >
0.75), ``1 + 4 + 3 * in_place`` towards the goal; 10 on the goal (within 0.05); success within
0.07.

``grasp_success`` is not computed: it needs the contact forces between each pad and the puck
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .mixed import select, value
from .puck import PuckClass
from .rewards import gripper_caging, norm, tolerance
from .sawyer import Episode, SimView, geom_pose

TARGET_RADIUS = 0.05
MIDPOINT_XY = (-0.05, 0.77)  # beside the wall, at the puck's current height
IN_PLACE_SCALING = (3.0, 1.0, 1.0)
PAST_THE_WALL_Y = 0.75


class GeomPuckClass(PuckClass):
    """A puck class (push-wall, push-back) that observes the puck through its geom ``objGeom`` and
    places it at its task's ``(x, y)``, at the height the geom has after the hand settled."""

    def objects(self, s: SimView) -> Tensor:
        return geom_pose(s, self.obj_geom)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        # adjust_initObjPos keeps only the geom's height after the settling (its x-y is replaced).
        height = settled["poses"].geom_xpos[:, self.obj_geom, 2:3]
        target = torch.cat((rand_vec[:, 3:5], height), dim=-1)
        obj_init_pos = torch.cat((rand_vec[:, :2], height), dim=-1)
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": target, "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}


class PushWall(GeomPuckClass):
    """Meta-World's push-wall-v3 over a batch of worlds."""

    name = "push-wall-v3"
    rand_vec_size = 6
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def _to_midpoint(self, pos: Tensor, obj: Tensor) -> Tensor:
        """``|(pos - midpoint) * (3, 1, 1)|``, the midpoint at the puck's current height."""
        midpoint = torch.stack(
            (torch.full_like(obj[:, 0], MIDPOINT_XY[0]), torch.full_like(obj[:, 0], MIDPOINT_XY[1]), obj[:, 2]), dim=-1
        )
        return norm((pos - midpoint) * self.const(IN_PLACE_SCALING))

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        tcp_to_obj = norm(obj - tcp)
        obj_to_target = norm(obj - target)
        in_midpoint = tolerance(
            self._to_midpoint(obj, obj), (0.0, TARGET_RADIUS), self._to_midpoint(obj_init_pos, obj), "long_tail"
        )
        in_place = tolerance(obj_to_target, (0.0, TARGET_RADIUS), norm(obj_init_pos - target), "long_tail")
        object_grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.015, pad_success_thresh=0.05, object_reach_radius=0.01, xz_thresh=0.005, high_density=True,
        )  # fmt: skip
        holding = (tcp_to_obj < 0.02) & (tcp_opened > 0)
        # Farama's sums, term by term (float32 where the closing effort entered, see mixed.py).
        to_midpoint = 2.0 * object_grasped + 1.0 + 4.0 * in_midpoint
        to_target = 2 * object_grasped + 1.0 + 4.0 + 3.0 * in_place
        reward = select(holding, select(obj[:, 1] > PAST_THE_WALL_Y, to_target, to_midpoint), 2 * object_grasped)
        reward = value(select(obj_to_target < TARGET_RADIUS, 10.0, reward))
        info = {
            "success": (obj_to_target <= 0.07).to(reward.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(reward.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["GeomPuckClass", "PushWall"]
