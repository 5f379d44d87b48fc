"""peg-unplug-side-v3 (``SawyerPegUnplugSideEnvV3``): grasp the plug and pull it sideways out of the box.

Task: ``rand_vec = (box x, y, z)``, the box's body position; the plug starts in the box's hole
(``box + (0.044, 0, 0.131)``, upright) and the goal is 0.15 further in x. Observed object: the
plug's end (site ``pegEnd``) and the plug's orientation. Reward v2: twice the gripper caging
reward (high density, full effort at 0.8 of the gripper's); once the gripper is open past half
and the plug has moved out by 0.015 with the gripper near it, ``1 + 2 * caging + 5 * in_place``
(the plug end's distance to the goal); 10 within 0.05 of the goal; success within 0.07.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .kinematics import normalize
from .mixed import select, value
from .puck import OBJ_QPOS
from .rewards import gripper_caging, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView

PLUG_QUAT = slice(12, 16)  # the plug's free joint: qpos[9:12] position, [12:16] orientation
PLUG_LINEAR_QVEL = slice(9, 12)  # the reference's _set_obj_xyz zeroes the plug's linear velocity only
PLUG_OFFSET = (0.044, 0.0, 0.131)  # the plug in the hole, from the box's body
GOAL_OFFSET = (0.15, 0.0, 0.0)  # the goal, from the plug's start
UPRIGHT = (1.0, 0.0, 0.0, 0.0)


class PegUnplugSide(SawyerClass):
    """Meta-World's peg-unplug-side-v3 over a batch of worlds."""

    name = "peg-unplug-side-v3"
    rand_vec_size = 3
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.box = self.body_id("box")
        self.peg_end = self.site_id("pegEnd")
        self.plug_offset = self.const(PLUG_OFFSET)
        self.goal_offset = self.const(GOAL_OFFSET)
        self.upright = self.const(UPRIGHT)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.box] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        plug = rand_vec + self.plug_offset
        s.qpos[ids, OBJ_QPOS] = plug.to(s.qpos.dtype)  # _set_obj_xyz: the plug upright in the hole
        s.qpos[ids, PLUG_QUAT] = self.upright.to(s.qpos.dtype)
        s.qvel[ids, PLUG_LINEAR_QVEL] = 0.0
        s.forward(ids)
        return {"target_pos": plug + self.goal_offset, "obj_init_pos": s.site_xpos[ids, self.peg_end],
                "init_tcp": settled["init_tcp"]}  # fmt: skip

    def objects(self, s: SimView) -> Tensor:
        # plug1's MuJoCo quaternion: its free joint's, normalised.
        return torch.cat((s.site_xpos[:, self.peg_end], normalize(s.qpos[:, PLUG_QUAT])), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        tcp_to_obj = norm(obj - tcp)
        obj_to_target = norm(obj - target)
        grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.025, pad_success_thresh=0.05, object_reach_radius=0.01, xz_thresh=0.005,
            desired_gripper_effort=0.8, high_density=True,
        )  # fmt: skip
        in_place = tolerance(obj_to_target, (0.0, 0.05), norm(obj_init_pos - target), "long_tail")
        grasp_success = (tcp_opened > 0.5) & (obj[:, 0] - obj_init_pos[:, 0] > 0.015)
        reward = 2 * grasped
        reward = select(grasp_success & (tcp_to_obj < 0.035), 1 + 2 * grasped + 5 * in_place, reward)
        reward = value(select(obj_to_target <= 0.05, 10.0, reward))
        info = {
            "success": (obj_to_target <= 0.07).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_success": grasp_success.to(obs.dtype),
            "grasp_reward": value(grasped),
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["PegUnplugSide"]
