"""disassemble-v3 (``SawyerNutDisassembleEnvV3``): lift the wrench (a round nut with a handle) off the peg.

Task: ``rand_vec = (nut x, y, z, goal x, y, z)``; the nut starts at the first triple, around the
peg (its body 0.03 above the nut); the goal is 0.15 above the nut's start (the goal triple is
unused). Observed object: the handle's end (site ``RoundNut-8``) and the nut's orientation.
Reward v2: ``(2 * caging + 6 * in_place) * upright``: the gripper caging reward (high density)
on the handle, its x snapped to the hand's while within half a handle length; ``in_place``
(0.1 for lifting the nut, 0.9 for the nut's centre reaching 0.1 above the goal); ``upright``
as in assembly. 10 on success (the handle's end above the goal's height).

``grasp_success`` is the reference's ``grasp_reward >= 0.5`` (no contacts); ``obj_to_target``
is always 0 in the reference.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .assembly import Wrench, tool_info, upright
from .mixed import select
from .rewards import norm, tolerance
from .sawyer import Episode, SimView

GOAL_RISE = (0.0, 0.0, 0.15)  # the goal, above the nut's start
PEG_RISE = (0.0, 0.0, 0.03)  # the peg's body, above the nut's start
AIM_RISE = (0.0, 0.0, 0.1)  # in_place aims the nut's centre this far above the goal


class Disassemble(Wrench):
    """Meta-World's disassemble-v3 over a batch of worlds."""

    name = "disassemble-v3"

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.goal_rise = self.const(GOAL_RISE)
        self.peg_rise = self.const(PEG_RISE)
        self.aim_rise = self.const(AIM_RISE)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.peg] = (rand_vec[:, :3] + self.peg_rise).to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = rand_vec[:, :3]
        self.set_nut(s, ids, obj_init_pos)
        return {"target_pos": obj_init_pos + self.goal_rise, "obj_init_pos": obj_init_pos,
                "init_tcp": settled["init_tcp"]}  # fmt: skip

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        target = ep["target_pos"]
        quat = upright(obs[:, 7:11], self.lying_flat, 0.4)
        grab = self.grab(obs, action, s, ep, high_density=True)
        centre = s.site_xpos[:, self.nut_centre]
        lifted = (centre[:, 2] > 0.02).to(obs.dtype)
        aimed = tolerance(norm(target + self.aim_rise - centre), (0.0, 0.02), 0.2, "long_tail")
        in_place = 0.1 * lifted + 0.9 * aimed
        reward = (2.0 * grab + 6.0 * in_place) * quat  # float32 where the closing effort entered
        success = obs[:, 6] > target[:, 2]
        reward = select(success, 10.0, reward)
        info = tool_info(reward, grab, quat, in_place, success)
        return info["unscaled_reward"], info


__all__ = ["Disassemble"]
