"""window-open-v3 (``SawyerWindowOpenEnvV3``): slide the window open by its handle.

Task: ``rand_vec = (window x, y, z)``, the window's body position; the goal is ``rand_vec +
(0.2, 0, 0)``. Reward v2: ``10 * hamacher(reach, in_place)`` (reach: the gripper centre's
distance to the handle; in_place: the handle's distance to the goal in x), success when the
handle is within 0.05 of the goal in x.

The reference's ``reset_model`` runs no forward pass after the hand settled: its observation
and the handle's start (``window_handle_pos_init``) read the poses as the settling's last
``mj_step`` left them, one substep behind the state; the reset here does the same.
"""

from __future__ import annotations

from torch import Tensor

from .sawyer import Episode, SimView
from .window import WindowClass

GOAL_OFFSET = (0.2, 0.0, 0.0)


class WindowOpen(WindowClass):
    """Meta-World's window-open-v3 over a batch of worlds."""

    name = "window-open-v3"
    handle_site = "handleOpenStart"
    reach_sigmoid = "long_tail"
    in_place_start = "obj_init_pos"  # the window's body: rand_vec

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        super().place(s, ids, rand_vec)
        # reset reads the simulator's site positions after the settling: mujoco.batch copies an
        # output field out of its worlds only once it was asked for, so ask before the settling.
        s.sim.data_field("site_xpos")

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        # The simulator's own site positions are the ones the settling's last step left.
        handle = s.sim.data_field("site_xpos")[ids, self.handle].to(s.qpos.dtype)
        s.qpos[ids, self.slide_qpos] = 0.0  # the window closed; no forward pass, as the reference
        # The reset's observation reads those poses too: the bodies as the settling left them
        # (``settled``), the handle as above.
        s.poses.xpos.values[ids] = settled["xpos"].values
        s.poses.site_xpos.values[ids, s.poses.site_xpos.ids.index(self.handle)] = handle
        return {
            "target_pos": rand_vec + self.const(GOAL_OFFSET),
            "obj_init_pos": rand_vec,
            "window_handle_pos_init": handle,
            "init_tcp": settled["init_tcp"],
        }


__all__ = ["WindowOpen"]
