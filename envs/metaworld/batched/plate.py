"""The plate of the plate-slide family (plate-slide, -side, -back, -back-side).

The four classes share one object and one reward shape. The plate is the box geom ``puck`` of a
body under ``puck_channel``, moved by two slide joints (``goal_slidex``/``goal_slidey`` at
``qpos[9:11]``); its observed position and orientation are the geom's (``data.geom("puck")``).
``rand_vec = (plate x, y, z, goal x, y, z)`` (the plate's entries fixed per class): the goal is
``rand_vec[3:]`` and ``obj_init_pos`` is ``rand_vec[:3]``, which only enters the reward's
margins (the plate itself starts where the class's slide offsets put it).

Reward v2: ``in_place = tolerance(|plate - goal|, (0, 0.05), |obj_init_pos - goal| - m)`` and
``object_grasped = tolerance(|tcp - plate|, (0, 0.05), |init_tcp - obj_init_pos| - m)`` (long
tail; ``m`` 0 for plate-slide, 0.05 for the others), combined per class (``combine``), 10 once
the plate is within 0.05 of the goal; success within 0.07. ``grasp_success`` is Farama's
constant 0 (no contact forces needed).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .rewards import norm, tolerance
from .sawyer import Episode, SawyerClass, SimView, geom_pose

TARGET_RADIUS = 0.05
PLATE_QPOS = slice(9, 11)  # the plate's two slide joints (x, y)


class PlateClass(SawyerClass):
    """A plate-slide class: the plate at its slide offsets, the goal from the task, the shared terms.

    A subclass sets ``name``, ``plate_start`` (``qpos[9:11]`` at a reset, Farama's
    ``_set_obj_xyz`` argument), ``margin_offset`` (``m`` above) and ``combine``; it overrides
    ``place`` when its reset moves the goal's body.
    """

    rand_vec_size = 6
    #: The plate's slide joints at a reset (the other joints' velocities are kept, as Farama's).
    plate_start: ClassVar[tuple[float, float]]
    #: Subtracted from both tolerance margins (0 for plate-slide, the target radius for the others).
    margin_offset: ClassVar[float] = TARGET_RADIUS

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.plate_geom = self.geom_id("puck")
        self.goal_body = self.body_id("puck_goal")
        self.start = self.const(self.plate_start)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        # The class's _set_obj_xyz writes qpos[9:11] only: the slides keep the velocity the settling left.
        s.qpos[ids, PLATE_QPOS] = self.start
        s.forward(ids)
        return {"target_pos": rand_vec[:, 3:], "obj_init_pos": rand_vec[:, :3], "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        return geom_pose(s, self.plate_geom)

    def combine(self, object_grasped: Tensor, in_place: Tensor, tcp: Tensor, tcp_to_obj: Tensor) -> Tensor:
        """The reward before the success bonus, from the two terms (and the gripper centre ``tcp``)."""
        raise NotImplementedError

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, target, obj_init_pos = obs[:, 4:7], ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        obj_to_target = norm(obj - target)
        in_place_margin = norm(obj_init_pos - target) - self.margin_offset
        in_place = tolerance(obj_to_target, (0.0, TARGET_RADIUS), in_place_margin, "long_tail")
        tcp_to_obj = norm(tcp - obj)
        grasped_margin = norm(ep["init_tcp"] - obj_init_pos) - self.margin_offset
        object_grasped = tolerance(tcp_to_obj, (0.0, TARGET_RADIUS), grasped_margin, "long_tail")
        reward = self.combine(object_grasped, in_place, tcp, tcp_to_obj)
        reward = torch.where(obj_to_target < TARGET_RADIUS, 10.0, reward)
        info = {
            "success": (obj_to_target <= 0.07).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_success": torch.zeros_like(reward),
            "grasp_reward": object_grasped,
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


class LowPushPlate(PlateClass):
    """The reward of plate-slide-side, -back and -back-side: ``1.5 * object_grasped``, and ``2 + 7 *
    in_place`` while the gripper centre is low (z <= 0.03) and within 0.07 of the plate."""

    def combine(self, object_grasped: Tensor, in_place: Tensor, tcp: Tensor, tcp_to_obj: Tensor) -> Tensor:
        pushing = (tcp[:, 2] <= 0.03) & (tcp_to_obj < 0.07)
        return torch.where(pushing, 2.0 + 7.0 * in_place, 1.5 * object_grasped)


__all__ = ["PlateClass", "LowPushPlate"]
