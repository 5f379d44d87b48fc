"""The drawer of drawer-open and drawer-close: its box moved per task, its handle observed.

Their models share the drawer (body ``drawer``, placed at ``rand_vec``) and its sliding link
(body ``drawer_link``, whose slide is ``qpos[9]``); the observed handle is a fixed offset from the
link (``_get_pos_objects``), the offset the class's. ``maxDist`` is how far the drawer slides.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .sawyer import SawyerClass, SimView


class DrawerClass(SawyerClass):
    """A drawer class: ``handle_offset`` its observed handle from the link."""

    rand_vec_size = 3
    model_fields = ("body_pos",)
    #: The observed handle, from the drawer's link.
    handle_offset: ClassVar[tuple[float, float, float]]

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.drawer_body = self.body_id("drawer")
        self.link = self.body_id("drawer_link")
        self.max_dist = float(env.maxDist)
        self.handle_point = self.const(self.handle_offset)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.drawer_body] = rand_vec.to(s.qpos.dtype)

    def handle(self, s: SimView) -> Tensor:
        """The observed handle now, ``(n, 3)``."""
        return s.xpos[:, self.link] + self.handle_point


__all__ = ["DrawerClass"]
