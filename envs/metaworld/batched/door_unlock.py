"""door-unlock-v3 (``SawyerDoorUnlockEnvV3``): push the door's lock sideways, open.

Task: ``rand_vec = (door x, y, z)``, the door's body position; each episode starts with the lock
turned down by 90 degrees (its hinge at 1.5708, at rest) and the goal is the lock's body then,
plus ``(0.1, -0.04, 0)``. Reward v2: ``2 * ready_to_push + 8 * pushed`` (ready_to_push: the
arm's "shoulder", an offset from the hand, near the lock's start site, x and z weighted down;
pushed: the lock's x against the goal's); success when the lock is within 0.02 of the goal in x.

``ready_to_push``'s margin measures from ``obj_init_pos``, which the reference keeps as a live
view of the lock's body position (``data.body("lock_link").xpos``): the lock's body *now*.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .door_lock import DoorLockBase
from .rewards import norm, tolerance
from .sawyer import Episode, SimView

LOCKED_ANGLE = 1.5708  # the lock's hinge at a reset (``_set_obj_xyz``)
GOAL_OFFSET = (0.1, -0.04, 0.0)  # the goal, from the lock's body at the reset
SHOULDER_OFFSET = (0.0, 0.055, 0.07)  # the shoulder, from the hand


class DoorUnlock(DoorLockBase):
    """Meta-World's door-unlock-v3 over a batch of worlds."""

    name = "door-unlock-v3"
    lock_site = "lockStartUnlock"

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        # The lock's hinge has no name: the joint of its body (the reference writes qpos[9], qvel[9]).
        hinge = int(env.model.body_jntadr[self.lock])
        self.lock_qpos, self.lock_dof = int(env.model.jnt_qposadr[hinge]), int(env.model.jnt_dofadr[hinge])
        self.goal_offset = self.const(GOAL_OFFSET)
        self.shoulder_offset = self.const(SHOULDER_OFFSET)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        s.qpos[ids, self.lock_qpos] = LOCKED_ANGLE
        s.qvel[ids, self.lock_dof] = 0.0
        s.forward(ids)
        return {"target_pos": s.xpos[ids, self.lock] + self.goal_offset, "init_tcp": settled["init_tcp"]}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        gripper, lock = obs[:, :3], obs[:, 4:7]
        shoulder_to_lock = norm((gripper + self.shoulder_offset - lock) * self.scale)
        shoulder_to_lock_init = norm((ep["init_tcp"] + self.shoulder_offset - s.xpos[:, self.lock]) * self.scale)
        ready_to_push = tolerance(shoulder_to_lock, (0.0, 0.02), shoulder_to_lock_init, "long_tail")
        obj_to_target = (ep["target_pos"][:, 0] - lock[:, 0]).abs()
        pushed = tolerance(obj_to_target, (0.0, 0.005), self.lock_length, "long_tail")
        reward = 2 * ready_to_push + 8 * pushed
        info = {
            "success": (obj_to_target <= 0.02).to(obs.dtype),
            "near_object": (shoulder_to_lock <= 0.05).to(obs.dtype),
            "grasp_success": (obs[:, 3] > 0).to(obs.dtype),
            "grasp_reward": ready_to_push,
            "in_place_reward": pushed,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["DoorUnlock"]
