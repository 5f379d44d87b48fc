"""assembly-v3 (``SawyerNutAssemblyEnvV3``): pick the wrench (a round nut with a handle) up and drop it over the peg.

Task: ``rand_vec = (nut x, y, z, goal x, y, z)``; the nut starts at the first triple (lying
flat), the peg's body is placed 0.05 below the goal. Observed object: the handle's end (site
``RoundNut-8``) and the nut's orientation. Reward v2: ``(2 * caging + 6 * in_place) * upright``:
the gripper caging reward (medium density) on the handle, with the handle's x snapped to the
hand's while within half a handle length of it; ``in_place`` (0.1 for lifting the nut, 0.9 for
the nut's centre reaching a funnel over the peg, z weighted thrice); ``upright``: 1 minus the
distance of the nut's quaternion from lying flat, over 0.4. 10 on success (the nut's centre
within 0.02 of the peg's axis and below the goal's height).

``grasp_success`` is the reference's ``grasp_reward >= 0.5`` (no contacts); ``obj_to_target``
is always 0 in the reference. The shared pieces of the wrench classes (assembly, disassemble)
and of hammer, which holds its tool the same way, are here.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .kinematics import normalize
from .mixed import Mixed, Number, select, value
from .puck import OBJ_QPOS, OBJ_QVEL
from .rewards import gripper_caging, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView

OBJ_QUAT = slice(12, 16)  # the free joint's orientation (qpos[9:12] is its position)
LYING_FLAT = (0.707, 0.0, 0.0, 0.707)  # the nut's quaternion (w, x, y, z) lying flat, as the reference rounds it
HANDLE_LENGTH = 0.02  # ``WRENCH_HANDLE_LENGTH``: the handle's x is snapped to the hand's within half of it
PEG_DROP = (0.0, 0.0, 0.05)  # the peg's body, below the goal


def upright(quat: Tensor, ideal: Tensor, scale: float) -> Tensor:
    """``_reward_quat``: ``max(1 - |quat - ideal| / scale, 0)`` of observed quaternions ``(n, 4)``."""
    return (1.0 - norm(quat - ideal) / scale).clamp(min=0.0)


def snapped(obj: Tensor, hand: Tensor, half_length: float) -> Tensor:
    """The object's position with its x replaced by the hand's where they are closer than
    ``half_length`` in x: the reference's way of caging a long handle as if it were a sphere."""
    x = torch.where((obj[:, 0] - hand[:, 0]).abs() < half_length, hand[:, 0], obj[:, 0])
    return torch.cat((x[:, None], obj[:, 1:]), dim=-1)


def tool_info(reward: Number, grab: Mixed, ready: Tensor, in_place: Tensor, success: Tensor) -> dict[str, Tensor]:
    """The ``info`` of the tool classes (wrench, hammer, box lid): ``grasp_success`` is
    ``grasp_reward >= 0.5``, ``obj_to_target`` the reference's constant 0."""
    dtype = in_place.dtype
    grab_value = value(grab)
    return {
        "success": success.to(dtype),
        "near_object": ready,
        "grasp_success": (grab >= 0.5).to(dtype),
        "grasp_reward": grab_value,
        "in_place_reward": in_place,
        "obj_to_target": torch.zeros_like(grab_value),
        "unscaled_reward": value(reward),
    }


class Wrench(SawyerClass):
    """The round nut with a handle of assembly and disassemble (model ``sawyer_assembly_peg``):
    the nut's free joint at ``qpos[9:16]``, the peg's body placed per task."""

    rand_vec_size = 6
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.peg = self.body_id("peg")
        self.handle_end = self.site_id("RoundNut-8")
        self.nut_centre = self.site_id("RoundNut")
        self.lying_flat = self.const(LYING_FLAT)

    def set_nut(self, s: SimView, ids: Tensor, pos: Tensor) -> None:
        """``_set_obj_xyz``: the nut at ``pos`` at rest (orientation kept), then ``set_state``'s forward pass."""
        s.qpos[ids, OBJ_QPOS] = pos.to(s.qpos.dtype)
        s.qvel[ids, OBJ_QVEL] = 0.0
        s.forward(ids)

    def objects(self, s: SimView) -> Tensor:
        # The nut body's MuJoCo quaternion: that of its free joint, normalised.
        return torch.cat((s.site_xpos[:, self.handle_end], normalize(s.qpos[:, OBJ_QUAT])), dim=-1)

    def grab(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode, **density: bool) -> Mixed:
        """The caging reward on the handle's end, its x snapped to the hand's."""
        wrench = snapped(obs[:, 4:7], obs[:, :3], HANDLE_LENGTH / 2.0)
        return gripper_caging(
            action, wrench, ep["obj_init_pos"], ep["init_tcp"], self.tcp_center(s), s.body(self.ids.left_pad),
            s.body(self.ids.right_pad), obj_radius=0.015, pad_success_thresh=0.02, object_reach_radius=0.01,
            xz_thresh=0.01, **density,
        )  # fmt: skip


class Assembly(Wrench):
    """Meta-World's assembly-v3 over a batch of worlds."""

    name = "assembly-v3"

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.peg_drop = self.const(PEG_DROP)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.peg] = (rand_vec[:, 3:] - self.peg_drop).to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = rand_vec[:, :3]
        self.set_nut(s, ids, obj_init_pos)
        return {"target_pos": rand_vec[:, 3:], "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        quat = upright(obs[:, 7:11], self.lying_flat, 0.4)
        grab = self.grab(obs, action, s, ep, medium_density=True)
        in_place, success = self._in_place(s.site_xpos[:, self.nut_centre], ep["target_pos"])
        reward = (2.0 * grab + 6.0 * in_place) * quat  # float32 where the closing effort entered
        reward = select(success, 10.0, reward)
        info = tool_info(reward, grab, quat, in_place, success)
        return info["unscaled_reward"], info

    @staticmethod
    def _in_place(centre: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
        """``_reward_pos``: 0.1 once the nut is lifted (or over the peg), 0.9 for its centre's distance
        to a funnel over the peg (the funnel's height grows with the distance from the peg's axis);
        and the success (the centre on the peg's axis, below the goal)."""
        error = target - centre
        radius = norm(error[:, :2])
        success = (radius < 0.02) & (error[:, 2] > 0.0)
        # Once on the peg, the funnel's neck widens: no need for more accuracy.
        threshold = torch.where(success, 0.02, 0.01)
        height = torch.where(radius > threshold, 0.02 * torch.log(radius - threshold) + 0.2, 0.0)
        error = torch.stack((error[:, 0], error[:, 1], height - centre[:, 2]), dim=-1)
        scale = error.new_tensor((1.0, 1.0, 3.0))
        lifted = (centre[:, 2] > 0.02) | (radius < threshold)
        placed = tolerance(norm(error * scale), (0.0, 0.02), 0.4, "long_tail")
        return 0.1 * lifted.to(centre.dtype) + 0.9 * placed, success


__all__ = ["Assembly", "Wrench", "snapped", "tool_info", "upright"]
