"""button-press-topdown-wall-v3 (``SawyerButtonPressTopdownWallEnvV3``): press the button down from
above, reaching over a wall.

Task and reset as button-press-topdown-v3 (``rand_vec = (box x, y, z)``, the goal the box's
``hole`` site; the button keeps the state the hand's settling left). Reward v2 as there, except
that the Hamacher product takes the gripper's opening (``max(opening, 0)``) where topdown takes
its closedness: ``5 * hamacher(opening, near_button)``, plus ``5 * button_pressed`` once the
gripper is within 0.03 of the button; success when the button is within 0.024 of the hole in height.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .button_press_topdown import NEAR_BUTTON_RADIUS, PRESSED_RADIUS, ButtonPressTopdown
from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SimView


class ButtonPressTopdownWall(ButtonPressTopdown):
    """Meta-World's button-press-topdown-wall-v3 over a batch of worlds."""

    name = "button-press-topdown-wall-v3"

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = obs[:, 4:7]
        tcp = self.tcp_center(s)
        tcp_to_obj = norm(obj - tcp)
        tcp_to_obj_init = norm(obj - ep["init_tcp"])  # the reference measures from the button now
        obj_to_target = (ep["target_pos"][:, 2] - obj[:, 2]).abs()
        near_button = tolerance(tcp_to_obj, (0.0, NEAR_BUTTON_RADIUS), tcp_to_obj_init, "long_tail")
        pressed = tolerance(obj_to_target, (0.0, PRESSED_RADIUS), ep["_obj_to_target_init"], "long_tail")
        reward = 5 * hamacher_product(obs[:, 3].clamp(min=0.0), near_button)
        reward = torch.where(tcp_to_obj <= 0.03, reward + 5 * pressed, reward)
        info = {
            "success": (obj_to_target <= 0.024).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.05).to(obs.dtype),
            "grasp_success": (obs[:, 3] > 0).to(obs.dtype),
            "grasp_reward": near_button,
            "in_place_reward": pressed,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["ButtonPressTopdownWall"]
