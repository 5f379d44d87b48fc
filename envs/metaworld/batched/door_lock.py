"""door-lock-v3 (``SawyerDoorLockEnvV3``): turn the door's lock down.

Task: ``rand_vec = (door x, y, z)``, the door's body position. After the hand settled the
reference runs one more control step's substeps (``frame_skip`` ``mj_step`` calls, the gripper
still closing) and takes the goal from the lock's body then: ``lock_link + (0, -0.04, -0.1)``.
Reward v2: ``2 * hamacher(gripper opening, near_lock) + 8 * lock_pressed`` (near_lock: the left
pad's distance to the lock's start site, x and z weighted down; lock_pressed: the lock's height
against the goal's); success when the lock is within 0.02 of the goal in height.

``near_lock``'s margin is the same distance as its argument: the reference measures it from
``init_left_pad``, a live view of the left pad's position (``get_body_com``), so the pad *now*.
The reset observation reads the poses the extra substeps' last ``mj_step`` left (no forward pass).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .kinematics import Poses
from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView, fixed_orientation
from .settled import keep_settled_poses

GOAL_OFFSET = (0.0, -0.04, -0.1)  # the goal, from the lock's body after the reset's extra substeps
LOCK_SCALE = (0.25, 1.0, 0.5)  # distances to the lock weigh y most (door-lock: the pad; door-unlock: the shoulder)


class DoorLockBase(SawyerClass):
    """The door-lock model's door, moved per task, and its lock, observed at site ``lock_site``
    with the door frame's fixed orientation (shared by door-lock and door-unlock)."""

    #: The site observed as the lock (``lockStartLock``/``lockStartUnlock``).
    lock_site: ClassVar[str]
    rand_vec_size = 3
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.door = self.body_id("door")
        self.lock = self.body_id("lock_link")
        self.lock_start = self.site_id(self.lock_site)
        self.lock_length = float(env._lock_length)
        self.scale = self.const(LOCK_SCALE)
        # The observed quaternion is door_link's xquat: no joint turns it, so it is the model's.
        self.door_quat = self.const(fixed_orientation(env.model, env.model.body("door_link").id))

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.door] = rand_vec.to(s.qpos.dtype)

    def objects(self, s: SimView) -> Tensor:
        lock = s.site_xpos[:, self.lock_start]
        return torch.cat((lock, self.door_quat.expand(lock.shape[0], 4)), dim=-1)


class DoorLock(DoorLockBase):
    """Meta-World's door-lock-v3 over a batch of worlds."""

    name = "door-lock-v3"
    lock_site = "lockStartLock"

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.goal_offset = self.const(GOAL_OFFSET)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        poses = self._extra_substeps(s, ids)
        keep_settled_poses(s, ids, {"poses": poses})
        return {"target_pos": poses.xpos[:, self.lock] + self.goal_offset}

    def _extra_substeps(self, s: SimView, ids: Tensor) -> Poses:
        """The reference's ``frame_skip`` ``mj_step`` calls after the settling (controls and mocap
        as the settling left them), and the poses they leave in MjData: at the state before the
        last substep."""
        s.sim.step_worlds(ids, self.frame_skip - 1)
        before_last = s.qpos[ids].clone()
        s.sim.step_worlds(ids, 1)
        body_pos = s.body_pos[ids] if s.body_pos.shape[0] == s.qpos.shape[0] else s.body_pos
        return s.kinematics(before_last, s.mocap_pos[ids], s.mocap_quat[ids], body_pos)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = obs[:, 4:7]
        pad_to_obj = norm((obj - s.body(self.ids.left_pad)) * self.scale)
        obj_to_target = (ep["target_pos"][:, 2] - obj[:, 2]).abs()
        near_lock = tolerance(pad_to_obj, (0.0, 0.01), pad_to_obj, "long_tail")  # margin: see the docstring
        pressed = tolerance(obj_to_target, (0.0, 0.005), self.lock_length, "long_tail")
        reward = 2 * hamacher_product(obs[:, 3].clamp(min=0.0), near_lock) + 8 * pressed
        info = {
            "success": (obj_to_target <= 0.02).to(obs.dtype),
            "near_object": (pad_to_obj <= 0.05).to(obs.dtype),
            "grasp_success": (obs[:, 3] > 0).to(obs.dtype),
            "grasp_reward": near_lock,
            "in_place_reward": pressed,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["DoorLock", "DoorLockBase"]
