"""button-press-v3 (``SawyerButtonPressEnvV3``): push the button on the box's front in (along y).

Task: ``rand_vec = (box x, y, z)``, the button box's body position; the button is pulled out to
its joint's zero and the goal is the box's ``hole`` site. Reward v2 (``button.ButtonReward``):
``2 * hamacher(gripper opening, near_button)`` (near_button: the gripper centre's distance to the
button's face, within 0.05), plus ``8 * button_pressed`` (the button's depth against the hole's,
in y) once the gripper is within 0.05 of the button; success when the button is within 0.02 of
the hole in y.
"""

from __future__ import annotations

from .button import ButtonBox


class ButtonPress(ButtonBox):
    """Meta-World's button-press-v3 over a batch of worlds."""

    name = "button-press-v3"
    button_offset = (0.0, -0.193, 0.0)  # the button's face
    pull_out = True
    press_axis = 1
    near_radius = 0.05
    success_radius = 0.02


__all__ = ["ButtonPress"]
