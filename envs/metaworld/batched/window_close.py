"""window-close-v3 (``SawyerWindowCloseEnvV3``): slide the open window shut by its handle.

Task: ``rand_vec = (window x, y, z)``, the window's body position and the goal. Each episode
starts with the window open (its slide at 0.2). Reward v2: ``10 * hamacher(reach, in_place)``
(reach: the gripper centre's distance to the handle, a Gaussian; in_place: the handle's distance
to the goal in x), success when the handle is within ``TARGET_RADIUS`` of the goal in x.

The reference's ``reset_model`` writes the slide without a forward pass: the reset observation
reads the poses the settling left (the window still closed there, ``settled.keep_settled_poses``),
and the handle's start (``window_handle_pos_init``) is the handle then, moved by the opening (0.2 in x).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView
from .settled import keep_settled_poses

OPEN_SLIDE = 0.2  # the window's slide at a reset
HANDLE_RADIUS = 0.02


class WindowClose(SawyerClass):
    """Meta-World's window-close-v3 over a batch of worlds."""

    name = "window-close-v3"
    rand_vec_size = 3
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.window = self.body_id("window")
        self.handle = self.site_id("handleCloseStart")
        self.slide_qpos = self.joint_qpos("window_slide")
        self.target_radius = float(env.TARGET_RADIUS)
        self.opening = self.const((OPEN_SLIDE, 0.0, 0.0))

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.window] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        keep_settled_poses(s, ids, settled)
        handle_init = s.site_xpos[ids, self.handle] + self.opening
        s.qpos[ids, self.slide_qpos] = OPEN_SLIDE  # no forward pass, as the reference
        return {"target_pos": rand_vec, "window_handle_pos_init": handle_init, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        handle = s.site_xpos[:, self.handle]
        return torch.cat((handle, handle.new_zeros(handle.shape[0], 4)), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = s.site_xpos[:, self.handle]  # the reference reads the site, not the (clipped) observation
        target, handle_init = ep["target_pos"], ep["window_handle_pos_init"]
        radius = self.target_radius
        target_to_obj = (obj[:, 0] - target[:, 0]).abs()
        target_to_obj_init = (handle_init[:, 0] - target[:, 0]).abs()
        in_place = tolerance(target_to_obj, (0.0, radius), (target_to_obj_init - radius).abs(), "long_tail")
        tcp_to_obj = norm(obj - self.tcp_center(s))
        reach_margin = (norm(handle_init - ep["init_tcp"]) - HANDLE_RADIUS).abs()
        reach = tolerance(tcp_to_obj, (0.0, HANDLE_RADIUS), reach_margin, "gaussian")
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


__all__ = ["WindowClose"]
