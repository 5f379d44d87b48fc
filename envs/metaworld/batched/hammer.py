"""hammer-v3 (``SawyerHammerEnvV3``): pick the hammer up and drive the nail into the box.

Task: ``rand_vec = (hammer x, y, z)``, the hammer's start; the box (with the nail) stays where
the model has it, and the goal is the box's ``goal`` site. Observed objects: the hammer and
the nail (bodies). Reward v2: ``(2 * caging + 6 * in_place) * upright``: the gripper caging
reward (high density) on the handle, its x snapped to the hand's within half a handle length;
``in_place`` (0.1 for lifting the head, 0.9 for the head reaching the goal); ``upright``: 1
minus the distance of the hammer's quaternion from lying flat, over 0.4. Success: the nail
driven in past 0.09; the reward is 10 there once it is above 5 (the success alone is easily
hacked).

``grasp_success`` is the reference's ``grasp_reward >= 0.5`` (no contacts); ``obj_to_target``
is always 0 in the reference.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import torch
from torch import Tensor

from .assembly import snapped, tool_info, upright
from .kinematics import normalize
from .mixed import select
from .puck import OBJ_QPOS, OBJ_QVEL
from .rewards import gripper_caging, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView

HAMMER_QUAT = slice(12, 16)  # the hammer's free joint: qpos[9:12] position, [12:16] orientation
LYING_FLAT = (1.0, 0.0, 0.0, 0.0)  # the hammer's quaternion (w, x, y, z) lying flat
HEAD_OFFSET = (0.16, 0.06, 0.0)  # the hammer's head, from its body
BOX_POS = (0.24, 0.85, 0.0)  # where the reference's reset puts the box (the model's own position)


class Hammer(SawyerClass):
    """Meta-World's hammer-v3 over a batch of worlds."""

    name = "hammer-v3"
    rand_vec_size = 3

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.hammer = self.body_id("hammer")
        self.nail = self.body_id("nail_link")
        self.goal_site = self.site_id("goal")
        self.nail_qpos = self.joint_qpos("NailSlideJoint")
        if not np.array_equal(env.model.body("box").pos, BOX_POS):
            raise ValueError(f"the reset writes the box at {BOX_POS}, expected to be the model's own position: the "
                             f"box is not moved per world here; the model has {env.model.body('box').pos}")  # fmt: skip
        self.half_handle = float(env.HAMMER_HANDLE_LENGTH) / 2.0
        self.nail_quat = self.const(_fixed_orientation(env.model, self.nail))
        self.lying_flat = self.const(LYING_FLAT)
        self.head_offset = self.const(HEAD_OFFSET)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        s.qpos[ids, OBJ_QPOS] = rand_vec.to(s.qpos.dtype)  # _set_hammer_xyz: the hammer at rest, orientation kept
        s.qvel[ids, OBJ_QVEL] = 0.0
        s.forward(ids)
        # The goal site is on the box's static frame: the same before and after the forward pass.
        target = s.site_xpos[ids, self.goal_site]
        return {"target_pos": target, "obj_init_pos": rand_vec, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        n = s.qpos.shape[0]
        # hammer sits unrotated on the free body: its MuJoCo quaternion is the joint's, normalised.
        hammer = torch.cat((s.xpos[:, self.hammer], normalize(s.qpos[:, HAMMER_QUAT])), dim=-1)
        nail = torch.cat((s.xpos[:, self.nail], self.nail_quat.expand(n, 4)), dim=-1)
        return torch.cat((hammer, nail), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        hand, hammer = obs[:, :3], obs[:, 4:7]
        head = hammer + self.head_offset
        quat = upright(obs[:, 7:11], self.lying_flat, 0.4)
        grab = gripper_caging(
            action, snapped(hammer, hand, self.half_handle), ep["obj_init_pos"], ep["init_tcp"], self.tcp_center(s),
            s.body(self.ids.left_pad), s.body(self.ids.right_pad), obj_radius=0.015, pad_success_thresh=0.02,
            object_reach_radius=0.01, xz_thresh=0.01, high_density=True,
        )  # fmt: skip
        lifted = (head[:, 2] > 0.02).to(obs.dtype)
        in_place = 0.1 * lifted + 0.9 * tolerance(norm(ep["target_pos"] - head), (0.0, 0.02), 0.2, "long_tail")
        reward = (2.0 * grab + 6.0 * in_place) * quat  # float32 where the closing effort entered
        success = s.qpos[:, self.nail_qpos] > 0.09
        reward = select(success & (reward > 5.0), 10.0, reward)
        info = tool_info(reward, grab, quat, in_place, success)
        return info["unscaled_reward"], info


def _fixed_orientation(model: mujoco.MjModel, body: int) -> np.ndarray:
    """MuJoCo's quaternion (``xquat``) of a body that no joint of its chain rotates (the nail
    only slides): computed once from the model."""
    chain = body
    while chain > 0:
        first, count = model.body_jntadr[chain], model.body_jntnum[chain]
        if any(model.jnt_type[j] != mujoco.mjtJoint.mjJNT_SLIDE for j in range(first, first + count)):
            raise ValueError(f"body {model.body(body).name!r}: a joint of its chain rotates it")
        chain = int(model.body_parentid[chain])
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return data.xquat[body].copy()


__all__ = ["Hammer"]
