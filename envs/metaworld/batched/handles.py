"""The handle of handle-press and handle-pull (front and side): a lever on a box, on a slide joint.

Their models share the box (body ``box``, placed at ``rand_vec``), the handle (body
``handle_link``, whose one unnamed slide joint is ``qpos[9]``) and its sites (``handleStart``,
``handleRight``, ``handleCenter``; the goals ``goalPress`` and ``goalPull`` on the box). A reset
sets the handle's joint (``_set_obj_xyz``) and reads the goal site; the observation is one
handle site with the zero quaternion (``_get_quat_objects`` returns ``np.zeros(4)``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .sawyer import SawyerClass, SimView, with_zero_quat


class HandleClass(SawyerClass):
    """A class whose object is the handle: ``observed_site`` its observed point, ``goal_site`` the goal,
    ``handle_init`` the handle joint's position at a reset."""

    rand_vec_size = 3
    model_fields = ("body_pos",)
    observed_site: ClassVar[str]
    goal_site: ClassVar[str]
    handle_init: ClassVar[float]

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        model = env.model
        self.box = self.body_id("box")
        self.handle_site = self.site_id(self.observed_site)
        self.goal_id = self.site_id(self.goal_site)
        handle = model.body("handle_link").id
        joint = int(model.body_jntadr[handle])  # the handle's one joint has no name
        self.handle_qpos, self.handle_dof = int(model.jnt_qposadr[joint]), int(model.jnt_dofadr[joint])
        self.target_radius = float(env.TARGET_RADIUS)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.box] = rand_vec.to(s.qpos.dtype)

    def set_handle(self, s: SimView, ids: Tensor) -> Tensor:
        """``_set_obj_xyz(handle_init)``: the handle at its start, at rest, then the forward pass;
        returns the goal site's position there (``_target_pos``), ``(len(ids), 3)``."""
        s.qpos[ids, self.handle_qpos] = self.handle_init
        s.qvel[ids, self.handle_dof] = 0.0
        s.forward(ids)
        return s.site_xpos[ids, self.goal_id]

    def handle(self, s: SimView) -> Tensor:
        """The observed handle site now, ``(n, 3)``."""
        return s.site_xpos[:, self.handle_site]

    def objects(self, s: SimView) -> Tensor:
        return with_zero_quat(self.handle(s))


__all__ = ["HandleClass"]
