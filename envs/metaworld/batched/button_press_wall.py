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

from .button import ButtonTerms
from .button_press import ButtonPress
from .rewards import hamacher_product

FAR = 0.07  # beyond this distance from the button only reaching it is rewarded


class ButtonPressWall(ButtonPress):
    """Meta-World's button-press-wall-v3 over a batch of worlds."""

    name = "button-press-wall-v3"
    near_radius = 0.01
    success_radius = 0.03

    def combine(self, opening: Tensor, t: ButtonTerms) -> Tensor:
        reaching = 2 * hamacher_product((1 - opening) / 2.0, t.near_button)
        pressing = 2 + 2 * (1 + opening) + 4 * t.pressed**2
        return torch.where(t.tcp_to_obj > FAR, reaching, pressing)


__all__ = ["ButtonPressWall"]
