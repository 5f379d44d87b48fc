"""peg-insert-side-v3 (``SawyerPegInsertionSideEnvV3``): pick the peg up and insert it sideways into the box's hole.

Task: ``rand_vec = (peg x, y, z, box x, y, z)``; the goal is ``box + (0.03, 0, 0.13)``. Reward
v2: the Hamacher product of the caging reward (high density; 1 once the peg is held above the
table) and ``in_place`` (the peg head's distance to the goal, y and z weighted twice, times two
corridor factors that shrink inside the box's collision boxes), plus ``1 + 5 * in_place`` while
the peg is held, 10 on success (peg head within 0.07 of the goal, weighted).

The peg head's start (``peg_head_pos_init``, in the margin of ``in_place``) is read, as the
reference does, before the peg is placed and at the poses the settling's last ``mj_step`` left
(the peg where the model starts it). The box ``in_place`` factor follows NumPy's types: inside a
collision box it is a NumPy float64, which makes the product with the float32 caging reward float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from .kinematics import normalize, quat_to_mat
from .mixed import Mixed, select, value
from .puck import OBJ_QPOS, OBJ_QVEL
from .rewards import gripper_caging, hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView, quat_from_matrix

GOAL_OFFSET = (0.03, 0.0, 0.13)  # the hole, from the box's body position (reset_model)
SCALE = (1.0, 2.0, 2.0)  # the head's distance to the goal weights y and z twice
PEG_QUAT = slice(12, 16)  # the peg's free joint: qpos[9:12] position, [12:16] orientation
#: (corner with factor 0, corner with factor 1) of the two collision boxes
COLLISION_BOXES = (
    ("bottom_right_corner_collision_box_1", "top_left_corner_collision_box_1"),
    ("bottom_right_corner_collision_box_2", "top_left_corner_collision_box_2"),
)


def rect_prism_tolerance(curr: Tensor, zero: Tensor, one: Tensor) -> tuple[Tensor, Tensor]:
    """``reward_utils.rect_prism_tolerance`` per world: inside the box spanned by corners ``zero``
    and ``one`` (``(n, 3)``), the product of ``curr``'s fractions of the way from ``zero`` to
    ``one`` along each axis, else 1. Also returns where it is inside (there the reference's value
    is a NumPy float64, elsewhere the Python float 1.0)."""
    low, high = torch.minimum(zero, one), torch.maximum(zero, one)
    inside = ((low <= curr) & (curr <= high)).all(dim=-1)
    scale = (curr - zero) / (one - zero)
    return torch.where(inside, scale[:, 0] * scale[:, 1] * scale[:, 2], 1.0), inside


def hamacher_f64(a: Tensor, b: Tensor, a_f64: Tensor, b_f64: Tensor) -> tuple[Tensor, Tensor]:
    """``hamacher_product`` of Python floats or NumPy float64s (``a_f64``, ``b_f64``: where each
    is a NumPy float64), and where the result is one (the reference's ``0`` is an int)."""
    return hamacher_product(a, b), (a_f64 | b_f64) & (a + b - a * b > 0)


class PegInsertSide(SawyerClass):
    """Meta-World's peg-insert-side-v3 over a batch of worlds."""

    name = "peg-insert-side-v3"
    rand_vec_size = 6
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.box = self.body_id("box")
        self.head = self.site_id("pegHead")
        self.grasp = self.site_id("pegGrasp")
        if not np.array_equal(env.model.site_quat[self.grasp], (1.0, 0.0, 0.0, 0.0)):
            raise ValueError("pegGrasp is expected to share the peg's orientation (the observed quaternion)")
        self.boxes = [(self.site_id(zero), self.site_id(one)) for zero, one in COLLISION_BOXES]
        self.target_radius = float(env.TARGET_RADIUS)
        self.goal_offset = self.const(GOAL_OFFSET)
        self.scale = self.const(SCALE)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.box] = rand_vec[:, 3:].to(s.qpos.dtype)
        # reset reads the simulator's site positions after the settling: mujoco.batch copies an
        # output field out of its worlds only once it was asked for, so ask before the settling.
        s.sim.data_field("site_xpos")

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        # The simulator's own site positions are the ones the settling's last step left.
        head = s.sim.data_field("site_xpos")[ids, self.head].to(s.qpos.dtype)
        obj_init_pos = rand_vec[:, :3]
        s.qpos[ids, OBJ_QPOS] = obj_init_pos.to(s.qpos.dtype)  # _set_obj_xyz: the peg at rest, orientation kept
        s.qvel[ids, OBJ_QVEL] = 0.0
        s.forward(ids)
        return {
            "target_pos": rand_vec[:, 3:] + self.goal_offset,
            "obj_init_pos": obj_init_pos,
            "peg_head_pos_init": head,
            "init_tcp": settled["init_tcp"],
        }

    def objects(self, s: SimView) -> Tensor:
        # pegGrasp's frame has the peg's orientation: that of its free joint's quaternion.
        rotation = quat_to_mat(normalize(s.qpos[:, PEG_QUAT]))
        return torch.cat((s.site_xpos[:, self.grasp], quat_from_matrix(rotation)), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        head = s.site_xpos[:, self.head]
        tcp_to_obj = norm(obj - tcp)
        obj_to_target = norm((head - target) * self.scale)
        margin = norm((ep["peg_head_pos_init"] - target) * self.scale)
        in_place = tolerance(obj_to_target, (0.0, self.target_radius), margin, "long_tail")
        in_place, in_place_f64 = self._in_corridor(in_place, head, s)
        caging = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.0075, pad_success_thresh=0.03, object_reach_radius=0.01, xz_thresh=0.005, high_density=True,
        )  # fmt: skip
        lifted = obj[:, 2] - 0.01 > obj_init_pos[:, 2]
        held = (tcp_to_obj < 0.08) & (tcp_opened > 0) & lifted
        object_grasped = select(held, 1.0, caging)
        # A NumPy float64 in_place makes NumPy compute the product in float64.
        grasped = Mixed(object_grasped.value, object_grasped.f32 & ~in_place_f64)
        reward = hamacher_product(grasped, in_place)
        reward = select(held, reward + (1.0 + 5 * in_place), reward)
        reward = value(select(obj_to_target <= 0.07, 10.0, reward))
        info = {
            "success": (obj_to_target <= 0.07).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_success": ((tcp_to_obj < 0.02) & (tcp_opened > 0) & lifted).to(obs.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info

    def _in_corridor(self, in_place: Tensor, head: Tensor, s: SimView) -> tuple[Tensor, Tensor]:
        """``in_place`` times (Hamacher) the two collision boxes' factors of the peg head, and where
        the result is a NumPy float64."""
        (zero_1, one_1), (zero_2, one_2) = self.boxes
        box_1, inside_1 = rect_prism_tolerance(head, s.site_xpos[:, zero_1], s.site_xpos[:, one_1])
        box_2, inside_2 = rect_prism_tolerance(head, s.site_xpos[:, zero_2], s.site_xpos[:, one_2])
        boxes, boxes_f64 = hamacher_f64(box_2, box_1, inside_2, inside_1)
        return hamacher_f64(in_place, boxes, torch.zeros_like(boxes_f64), boxes_f64)


__all__ = ["PegInsertSide"]
