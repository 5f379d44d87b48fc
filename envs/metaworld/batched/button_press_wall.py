"""button-press-wall-v3 (``SawyerButtonPressWallEnvV3``): push the button in, reaching around a wall.

Task and reset as button-press-v3 (``rand_vec = (box x, y, z)``, the goal the box's ``hole``
site; a wall stands between the hand and the box). Reward v2: far from the button (beyond
0.07), ``2 * hamacher((1 - gripper opening) / 2, near_button)`` (near_button within 0.01);
near it, ``2 + 2 * (1 + gripper opening) + 4 * button_pressed ** 2``; success when the button
is within 0.03 of the hole in y.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .button_press import PRESSED_RADIUS, ButtonPress
from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SimView

NEAR_BUTTON_RADIUS = 0.01
FAR = 0.07  # beyond this distance from the button only reaching it is rewarded


class ButtonPressWall(ButtonPress):
    """Meta-World's button-press-wall-v3 over a batch of worlds."""

    name = "button-press-wall-v3"

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, opening = obs[:, 4:7], obs[:, 3]
        tcp = self.tcp_center(s)
        tcp_to_obj = norm(obj - tcp)
        tcp_to_obj_init = norm(obj - ep["init_tcp"])  # the reference measures from the button now
        obj_to_target = (ep["target_pos"][:, 1] - obj[:, 1]).abs()
        near_button = tolerance(tcp_to_obj, (0.0, NEAR_BUTTON_RADIUS), tcp_to_obj_init, "long_tail")
        pressed = tolerance(obj_to_target, (0.0, PRESSED_RADIUS), ep["_obj_to_target_init"], "long_tail")
        reaching = 2 * hamacher_product((1 - opening) / 2.0, near_button)
        pressing = 2 + 2 * (1 + opening) + 4 * pressed**2
        reward = torch.where(tcp_to_obj > FAR, reaching, pressing)
        info = {
            "success": (obj_to_target <= 0.03).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.05).to(obs.dtype),
            "grasp_success": (opening > 0).to(obs.dtype),
            "grasp_reward": near_button,
            "in_place_reward": pressed,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["ButtonPressWall"]
