"""handle-pull-side-v3 (``SawyerHandlePullSideEnvV3``): pull up the handle of a box turned sideways.

Task: ``rand_vec = (box x, y, z)``, the box's body position (the box turned a quarter turn about
z); the handle starts down (its joint at -0.1), the goal is the box's ``goalPull`` site and
``obj_init_pos`` is the observed ``handleCenter`` site at the reset. Reward v2 as handle-pull-v3
(``handle_pull.HandlePull``) with the handle's full distance to the goal, a wider handle in the
caging reward and the "held" test on the handle's height; success within 0.08 of the goal.
"""

from __future__ import annotations

from torch import Tensor

from .handle_pull import HandlePull
from .rewards import norm
from .sawyer import Episode, SimView

SUCCESS_RADIUS = 0.08


class HandlePullSide(HandlePull):
    """Meta-World's handle-pull-side-v3 over a batch of worlds."""

    name = "handle-pull-side-v3"
    observed_site = "handleCenter"
    obj_radius = 0.032
    pad_success_thresh = 0.06
    lift_axis = 2

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        target = self.set_handle(s, ids)
        return {"target_pos": target, "obj_init_pos": self.handle(s)[ids], "init_tcp": settled["init_tcp"]}

    def to_target(self, obj: Tensor, ep: Episode) -> tuple[Tensor, Tensor]:
        """The handle's distance to the goal now and at the start (the reference's scale is all ones)."""
        target = ep["target_pos"]
        return norm(obj - target), norm(ep["obj_init_pos"] - target)

    def success(self, target_to_obj: Tensor) -> Tensor:
        return target_to_obj <= SUCCESS_RADIUS


__all__ = ["HandlePullSide"]
