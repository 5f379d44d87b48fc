"""pick-place-v3 (``SawyerPickPlaceEnvV3``): pick the puck up and place it at a goal in the air.

Task: ``rand_vec = (puck x, y, z, goal x, y, z)``. Reward v2: the Hamacher product of the
class's own caging reward (pads around the puck in y, gripper centre over it in x-z, closing
effort) and ``in_place``, plus ``1 + 5 * in_place`` once the puck is held above the table, 10
when the puck is within 0.05 of the goal; success within 0.07.

``grasp_success`` is not computed: it needs the contact forces between each pad and the puck
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

from torch import Tensor

from .mixed import Mixed, select, value
from .puck import PuckClass
from .rewards import gripper_closed, hamacher_product, norm, pad_y_caging, tolerance, xz_caging
from .sawyer import Episode, SimView

PAD_SUCCESS_MARGIN = 0.05
XZ_SUCCESS_MARGIN = 0.005
OBJ_RADIUS = 0.015


class PickPlace(PuckClass):
    """Meta-World's pick-place-v3 over a batch of worlds."""

    name = "pick-place-v3"
    rand_vec_size = 6
    target_radius = 0.05
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos, target = rand_vec[:, :3], rand_vec[:, 3:]
        self.set_puck(s, ids, obj_init_pos)
        return {"target_pos": target, "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def caging(self, action: Tensor, obj: Tensor, s: SimView, ep: Episode) -> Mixed:
        """The class's own ``_gripper_caging_reward`` (high density, fixed radii, closing effort)."""
        bounds = (OBJ_RADIUS, PAD_SUCCESS_MARGIN)
        y_caging = pad_y_caging(obj, *self.pads(s), bounds, PAD_SUCCESS_MARGIN)
        xz = xz_caging(self.tcp_center(s), obj, ep["obj_init_pos"], ep["init_tcp"], XZ_SUCCESS_MARGIN)
        closed = gripper_closed(action, y_caging)
        caging = hamacher_product(y_caging, xz)
        gripping = select(caging > 0.97, closed, 0.0)
        return (hamacher_product(caging, gripping) + caging) / 2  # Mixed: float32 where the effort entered

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        tcp = self.tcp_center(s)
        obj_to_target = norm(obj - target)
        tcp_to_obj = norm(obj - tcp)
        in_place = tolerance(obj_to_target, (0.0, self.target_radius), norm(obj_init_pos - target), "long_tail")
        object_grasped = self.caging(action, obj, s, ep)
        reward = hamacher_product(object_grasped, in_place)
        lifted = (tcp_to_obj < 0.02) & (tcp_opened > 0) & (obj[:, 2] - 0.01 > obj_init_pos[:, 2])
        reward = select(lifted, reward + (1.0 + 5.0 * in_place), reward)
        reward = value(select(obj_to_target < self.target_radius, 10.0, reward))
        info = {
            "success": (obj_to_target <= 0.07).to(reward.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(reward.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["PickPlace"]
