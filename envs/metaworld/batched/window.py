"""The window of window-open and window-close: a sliding pane moved by its handle.

Their models share the window (body ``window``, placed at ``rand_vec``), its slide joint
(``window_slide``) and a handle site per class (``handleOpenStart``/``handleCloseStart``), observed
with the zero quaternion. Reward v2: ``10 * hamacher(reach, in_place)`` (reach: the gripper
centre's distance to the handle, within 0.02, its margin from the handle's start; in_place: the
handle's distance to the goal in x), success when the handle is within ``TARGET_RADIUS`` of the
goal in x. Neither reset runs a forward pass after writing the slide (see each class).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView, with_zero_quat

HANDLE_RADIUS = 0.02


class WindowClass(SawyerClass):
    """A window class: the handle site it observes, the sigmoid of its reach term, and the
    episode entry whose x is the handle's start for ``in_place``'s margin."""

    rand_vec_size = 3
    model_fields = ("body_pos",)
    #: The observed handle site.
    handle_site: ClassVar[str]
    #: The sigmoid of the reach term (``long_tail`` to open, ``gaussian`` to close).
    reach_sigmoid: ClassVar[str]
    #: The episode entry ``in_place``'s margin measures from (its x).
    in_place_start: ClassVar[str]

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.window = self.body_id("window")
        self.handle = self.site_id(self.handle_site)
        self.slide_qpos = self.joint_qpos("window_slide")
        self.target_radius = float(env.TARGET_RADIUS)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.window] = rand_vec.to(s.qpos.dtype)

    def objects(self, s: SimView) -> Tensor:
        return with_zero_quat(s.site_xpos[:, self.handle])

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = s.site_xpos[:, self.handle]  # the reference reads the site, not the (clipped) observation
        target, handle_init = ep["target_pos"], ep["window_handle_pos_init"]
        radius = self.target_radius
        target_to_obj = (obj[:, 0] - target[:, 0]).abs()
        target_to_obj_init = (ep[self.in_place_start][:, 0] - target[:, 0]).abs()
        in_place = tolerance(target_to_obj, (0.0, radius), (target_to_obj_init - radius).abs(), "long_tail")
        tcp_to_obj = norm(obj - self.tcp_center(s))
        reach_margin = (norm(handle_init - ep["init_tcp"]) - HANDLE_RADIUS).abs()
        reach = tolerance(tcp_to_obj, (0.0, HANDLE_RADIUS), reach_margin, self.reach_sigmoid)
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


__all__ = ["WindowClass"]
