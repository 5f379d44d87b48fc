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

from .sawyer import Episode, SimView
from .settled import keep_settled_poses
from .window import WindowClass

OPEN_SLIDE = 0.2  # the window's slide at a reset


class WindowClose(WindowClass):
    """Meta-World's window-close-v3 over a batch of worlds."""

    name = "window-close-v3"
    handle_site = "handleCloseStart"
    reach_sigmoid = "gaussian"
    in_place_start = "window_handle_pos_init"

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.opening = self.const((OPEN_SLIDE, 0.0, 0.0))

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        keep_settled_poses(s, ids, settled)
        handle_init = s.site_xpos[ids, self.handle] + self.opening
        s.qpos[ids, self.slide_qpos] = OPEN_SLIDE  # no forward pass, as the reference
        return {"target_pos": rand_vec, "window_handle_pos_init": handle_init, "init_tcp": settled["init_tcp"]}


__all__ = ["WindowClose"]
