"""button-press-topdown-wall-v3 (``SawyerButtonPressTopdownWallEnvV3``): press the button down from
above, reaching over a wall.

Task, reset and reward v2 as button-press-topdown-v3, except that the Hamacher product takes the
gripper's opening (``max(opening, 0)``) where topdown takes its closedness: ``5 * hamacher(opening,
near_button)``, plus ``5 * button_pressed`` once the gripper is within 0.03 of the button; success
when the button is within 0.024 of the hole in height.
"""

from __future__ import annotations

from torch import Tensor

from .button_press_topdown import ButtonPressTopdown


class ButtonPressTopdownWall(ButtonPressTopdown):
    """Meta-World's button-press-topdown-wall-v3 over a batch of worlds."""

    name = "button-press-topdown-wall-v3"

    def grip(self, opening: Tensor) -> Tensor:
        return opening.clamp(min=0.0)


__all__ = ["ButtonPressTopdownWall"]
