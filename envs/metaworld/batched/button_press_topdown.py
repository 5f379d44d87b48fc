"""button-press-topdown-v3 (``SawyerButtonPressTopdownEnvV3``): press the button down from above.

Task: ``rand_vec = (box x, y, z)``, the button box's body position; the goal is the box's
``hole`` site; the button keeps the state the hand's settling left. Reward v2: ``5 *
hamacher(gripper closedness, near_button)`` (near_button: the gripper centre's distance to the
button's top, within 0.01), plus ``5 * button_pressed`` (the button's height against the hole's)
once the gripper is within 0.03 of the button; success when the button is within 0.024 of the
hole in height.
"""

from __future__ import annotations

import torch
from torch import Tensor

from .button import ButtonBox, ButtonTerms
from .rewards import hamacher_product


class ButtonPressTopdown(ButtonBox):
    """Meta-World's button-press-topdown-v3 over a batch of worlds."""

    name = "button-press-topdown-v3"
    button_offset = (0.0, 0.0, 0.193)  # the button's top
    pull_out = False
    press_axis = 2
    near_radius = 0.01
    success_radius = 0.024

    def grip(self, opening: Tensor) -> Tensor:
        """The gripper term of the Hamacher product: its closedness."""
        return 1 - opening

    def combine(self, opening: Tensor, t: ButtonTerms) -> Tensor:
        reward = 5 * hamacher_product(self.grip(opening), t.near_button)
        return torch.where(t.tcp_to_obj <= 0.03, reward + 5 * t.pressed, reward)


__all__ = ["ButtonPressTopdown"]
