"""The reset observation of classes whose ``reset_model`` ends without a forward pass.

Most classes end their ``reset_model`` with ``set_state`` (``_set_obj_xyz``), whose
``mj_forward`` brings MjData's poses up to the state. drawer-open and lever-pull do not: their
reset observation reads MjData as the last ``mj_step`` of the hand's settling left it, with the
poses of the state before that substep (the arm still moves then: ~5e-4 m for the fingertips).
``keep_settled_poses`` gives the reset worlds those poses (``settled["poses"]``, which the env
computes at that state), so the frame the env reads next (``SawyerClass.frame``) is Farama's.
The next step recomputes every world's poses.
"""

from __future__ import annotations

from torch import Tensor

from .kinematics import Frames, Poses
from .sawyer import Episode, SimView


def _merge(now: Frames, settled: Frames, ids: Tensor) -> Frames:
    """``now``'s frames with the rows of worlds ``ids`` from ``settled`` (same kinematics, same frames)."""
    values = now.values.clone()
    values[ids] = settled.values.to(values.dtype)
    return Frames(values, now.ids, now.kind)


def keep_settled_poses(s: SimView, ids: Tensor, settled: Episode) -> None:
    """Set the poses of worlds ``ids`` to those after the settling (``settled["poses"]``): Farama's
    reset observation, when ``reset_model`` runs no ``mj_forward`` after ``_reset_hand``."""
    poses = settled.get("poses")
    if not isinstance(poses, Poses):
        raise TypeError(f"settled['poses'] must be the kinematics' Poses at the settled state, got {type(poses)}")
    kinds = ("xpos", "site_xpos", "geom_xpos", "geom_xmat")
    s.poses = Poses(*(_merge(getattr(s, kind), getattr(poses, kind), ids) for kind in kinds))


__all__ = ["keep_settled_poses"]
