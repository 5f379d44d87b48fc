"""window-open-v3 (``SawyerWindowOpenEnvV3``): slide the window open by its handle.

Task: ``rand_vec = (window x, y, z)``, the window's body position; the goal is ``rand_vec +
(0.2, 0, 0)``. Reward v2: ``10 * hamacher(reach, in_place)`` (reach: the gripper centre's
distance to the handle; in_place: the handle's distance to the goal in x), success when the
handle is within 0.05 of the goal in x.

The reference's ``reset_model`` runs no forward pass after the hand settled: its observation
and the handle's start (``window_handle_pos_init``) read the poses as the settling's last
``mj_step`` left them, one substep behind the state; the reset here does the same.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView

GOAL_OFFSET = (0.2, 0.0, 0.0)
HANDLE_RADIUS = 0.02


class WindowOpen(SawyerClass):
    """Meta-World's window-open-v3 over a batch of worlds."""

    name = "window-open-v3"
    rand_vec_size = 3
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.window = self.body_id("window")
        self.handle = self.site_id("handleOpenStart")
        self.slide_qpos = self.joint_qpos("window_slide")
        self.target_radius = float(env.TARGET_RADIUS)
        self.goal_offset = self.const(GOAL_OFFSET)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.window] = rand_vec.to(s.qpos.dtype)
        # reset reads the simulator's site positions after the settling: mujoco.batch copies an
        # output field out of its worlds only once it was asked for, so ask before the settling.
        s.sim.data_field("site_xpos")

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        # The simulator's own site positions are the ones the settling's last step left.
        handle = s.sim.data_field("site_xpos")[ids, self.handle].to(s.qpos.dtype)
        s.qpos[ids, self.slide_qpos] = 0.0  # the window closed; no forward pass, as the reference
        # The reset's observation reads those poses too: the bodies as the settling left them
        # (``settled``), the handle as above.
        s.poses.xpos.values[ids] = settled["xpos"].values
        s.poses.site_xpos.values[ids, s.poses.site_xpos.ids.index(self.handle)] = handle
        return {
            "target_pos": rand_vec + self.goal_offset,
            "obj_init_pos": rand_vec,
            "window_handle_pos_init": handle,
            "init_tcp": settled["init_tcp"],
        }

    def objects(self, s: SimView) -> Tensor:
        handle = s.site_xpos[:, self.handle]
        return torch.cat((handle, handle.new_zeros(handle.shape[0], 4)), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = s.site_xpos[:, self.handle]  # the reference reads the site, not the (clipped) observation
        target = ep["target_pos"]
        radius = self.target_radius
        target_to_obj = (obj[:, 0] - target[:, 0]).abs()
        target_to_obj_init = (ep["obj_init_pos"][:, 0] - target[:, 0]).abs()
        in_place = tolerance(target_to_obj, (0.0, radius), (target_to_obj_init - radius).abs(), "long_tail")
        tcp_to_obj = norm(obj - self.tcp_center(s))
        tcp_to_obj_init = norm(ep["window_handle_pos_init"] - ep["init_tcp"])
        reach = tolerance(tcp_to_obj, (0.0, HANDLE_RADIUS), (tcp_to_obj_init - HANDLE_RADIUS).abs(), "long_tail")
        reward = 10 * hamacher_product(reach, in_place)
        info = {
            "success": (target_to_obj <= radius).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.05).to(obs.dtype),
            "grasp_success": torch.ones_like(reward),
            "grasp_reward": reach,
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["WindowOpen"]
