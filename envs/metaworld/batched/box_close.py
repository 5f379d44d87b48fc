"""box-close-v3 (``SawyerBoxCloseEnvV3``): pick the lid up by its handle and put it on the box.

Task: ``rand_vec = (lid x, y, z, goal x, y, z)``; the lid starts at ``(x, y)`` at the height the
reference's float32 start gives it (its ``z`` unused), the box's body is placed under the goal
(at the box's own height). Observed object: the lid's handle body ``top_link``. Reward v2:
``(2 * hamacher(grab effort, ready) + 8 * lifted) * upright``: ``ready`` (the hand above a
funnel-shaped floor around the handle, and at it), ``lifted`` (0.2 for the handle above 0.04,
0.8 for the handle reaching the goal, z weighted thrice), ``upright``: 1 minus the distance of
the lid's quaternion from upright, over 0.2; 10 (times ``upright``) on success (the handle
within 0.08 of the goal).

The reference's reset steps the physics once more (``frame_skip`` substeps) after moving the
box and before placing the lid, so the reset here does too. ``grasp_success`` is the
reference's ``grasp_reward >= 0.5`` (no contacts); ``obj_to_target`` is always 0.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .assembly import tool_info, upright
from .kinematics import normalize
from .mixed import plain
from .puck import OBJ_QPOS, OBJ_QVEL
from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView

LID_QUAT = slice(12, 16)  # the lid's free joint: qpos[9:12] position, [12:16] orientation
UPRIGHT = (0.707, 0.0, 0.0, 0.707)  # the lid's quaternion (w, x, y, z) upright, as the reference rounds it
HANDLE_RISE = (0.0, 0.0, 0.02)  # the reward's point of the handle, above its body
ERROR_SCALE = (1.0, 1.0, 3.0)  # the handle's distance to the goal weights z thrice


class BoxClose(SawyerClass):
    """Meta-World's box-close-v3 over a batch of worlds."""

    name = "box-close-v3"
    rand_vec_size = 6
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.box = self.body_id("boxbody")
        self.handle = self.body_id("top_link")
        # The box keeps its height (the reference reads it from the box's static frame).
        self.box_z = float(env.model.body("boxbody").pos[2])
        self.lid_z = float(env.init_config["obj_init_pos"][-1])  # a float32 in the reference, widened
        self.upright = self.const(UPRIGHT)
        self.handle_rise = self.const(HANDLE_RISE)
        self.error_scale = self.const(ERROR_SCALE)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        box = torch.cat((rand_vec[:, 3:5], torch.full_like(rand_vec[:, :1], self.box_z)), dim=-1)
        s.body_pos[ids, self.box] = box.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        s.sim.step_worlds(ids, self.frame_skip)  # the reference's extra mj_steps after moving the box
        obj_init_pos = torch.cat((rand_vec[:, :2], torch.full_like(rand_vec[:, :1], self.lid_z)), dim=-1)
        s.qpos[ids, OBJ_QPOS] = obj_init_pos.to(s.qpos.dtype)  # _set_obj_xyz: the lid at rest, orientation kept
        s.qvel[ids, OBJ_QVEL] = 0.0
        s.forward(ids)
        return {"target_pos": rand_vec[:, 3:], "obj_init_pos": obj_init_pos}

    def objects(self, s: SimView) -> Tensor:
        # top_link's MuJoCo quaternion: its parent's free joint's, normalised (top_link is not rotated).
        return torch.cat((s.xpos[:, self.handle], normalize(s.qpos[:, LID_QUAT])), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        target = ep["target_pos"]
        # The grab effort in float32, as the reference computes it from its float32 action.
        grab = ((action[:, 3].clamp(-1.0, 1.0) + 1.0) / 2.0).clamp(0.0, 1.0).to(obs.dtype)
        quat = upright(obs[:, 7:11], self.upright, 0.2)
        ready, lifted = self._reward_pos(obs, target)
        reward = 2.0 * hamacher_product(grab, ready) + 8.0 * lifted
        success = norm(obs[:, 4:7] - target) < 0.08
        reward = torch.where(success, 10.0, reward) * quat  # the orientation scales the success reward too
        info = tool_info(reward, plain(grab), ready, lifted, success)
        return reward, info

    def _reward_pos(self, obs: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """``_reward_pos``: ``ready`` (above the floor of a funnel around the handle, and at the
        handle) and ``lifted`` (the handle lifted, and at the goal)."""
        hand = obs[:, :3]
        lid = obs[:, 4:7] + self.handle_rise
        radius = norm(hand[:, :2] - lid[:, :2])
        # The floor keeps the hand from running into the handle before it is over it.
        floor = torch.where(radius <= 0.02, 0.0, 0.04 * torch.log(radius - 0.02) + 0.4)
        below = tolerance(floor - hand[:, 2], (0.0, 0.01), floor / 2.0, "long_tail")
        above_floor = torch.where(hand[:, 2] >= floor, 1.0, below)
        at_handle = tolerance(norm(hand - lid), (0.0, 0.02), 0.5, "long_tail")
        ready = hamacher_product(above_floor, at_handle)
        placed = tolerance(norm((target - lid) * self.error_scale), (0.0, 0.05), 0.25, "long_tail")
        lifted = 0.2 * (lid[:, 2] > 0.04).to(obs.dtype) + 0.8 * placed
        return ready, lifted


__all__ = ["BoxClose"]
