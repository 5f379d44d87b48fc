"""handle-press-side-v3 (``SawyerHandlePressSideEnvV3``): press down the handle of a box turned sideways.

The box's model is turned a quarter turn about z (the handle points along x, toward the arm's
side) and placed at ``rand_vec``; reset, observation, reward v2 and success are handle-press-v3's
(``handle_press.HandlePress``), which reads the same sites in this model.
"""

from __future__ import annotations

from .handle_press import HandlePress


class HandlePressSide(HandlePress):
    """Meta-World's handle-press-side-v3 over a batch of worlds."""

    name = "handle-press-side-v3"


__all__ = ["HandlePressSide"]
