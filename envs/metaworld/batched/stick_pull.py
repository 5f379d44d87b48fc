"""stick-pull-v3 (``SawyerStickPullEnvV3``): hook the stick into the container's handle and pull it to the goal.

Task: ``rand_vec = (stick x, y, z, goal x, y, z)``; the stick starts at ``(x, y)``, the goal is
``(goal x, goal y)`` at the stick's height. Observed objects: the stick and the container's
handle (the ``insertion`` site). Reward v2: ``hamacher(caging, stick_in_place)`` (the gripper
caging reward on the stick, high density, measured from the container's body, 1 once the
stick is held above the table; the
stick's distance to the container, z weighted twice); while held ``1 + that + 5 *
stick_in_place``; once the stick's end is in the handle ``1 + that + 5 + 2 * (the stick's
distance to the goal) + (the container's)``; 10 on success (the handle within 0.12 of the goal
with the stick's end in it).

``grasp_success`` is not computed: it needs the contact forces between each pad and the stick
(``touching_main_object``), which cost a forward pass per step (``contacts.py``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .mixed import select, value
from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SimView
from .stick import StickClass

TARGET_RADIUS = 0.05
CONTAINER_OFFSET = (0.05, 0.0, 0.0)  # the reward's container point, from the handle (and from its body at the start)
YZ_SCALING = (1.0, 1.0, 2.0)  # the stick's distance to the container weights z twice


class StickPull(StickClass):
    """Meta-World's stick-pull-v3 over a batch of worlds."""

    name = "stick-pull-v3"
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.container_shift = self.const(CONTAINER_OFFSET)
        self.scaling = self.const(YZ_SCALING)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        target = torch.cat((rand_vec[:, 3:5], torch.full_like(rand_vec[:, :1], self.stick_z)), dim=-1)
        return {"target_pos": target, **self.place_stick(s, ids, rand_vec), "init_tcp": settled["init_tcp"]}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        stick, handle, tcp_opened = obs[:, 4:7], obs[:, 11:14], obs[:, 3]
        target, stick_init_pos, obj_init_pos = ep["target_pos"], ep["stick_init_pos"], ep["obj_init_pos"]
        container = handle + self.container_shift
        tcp_to_stick = norm(stick - self.tcp_center(s))
        handle_to_target = norm(handle - target)
        stick_margin = norm((stick_init_pos - (obj_init_pos + self.container_shift)) * self.scaling)
        stick_to_container = norm((stick - container) * self.scaling)
        stick_in_place = tolerance(stick_to_container, (0.0, TARGET_RADIUS), stick_margin, "long_tail")
        stick_margin_2 = norm(stick_init_pos - target)
        stick_at_target = tolerance(norm(stick - target), (0.0, TARGET_RADIUS), stick_margin_2, "long_tail")
        container_in_place = tolerance(norm(container - target), (0.0, TARGET_RADIUS), norm(obj_init_pos - target),
                                       "long_tail")  # fmt: skip
        caging = self.caging(action, stick, obj_init_pos, s, ep, obj_radius=0.014)
        held = (tcp_to_stick < 0.02) & (tcp_opened > 0) & (stick[:, 2] - 0.01 > stick_init_pos[:, 2])
        grasped = select(held, 1.0, caging)
        in_place_and_grasped = hamacher_product(grasped, stick_in_place)
        inserted = self._inserted(handle, s.site_xpos[:, self.stick_end])
        hooked = 1.0 + in_place_and_grasped + 5.0 + 2.0 * stick_at_target + 1.0 * container_in_place
        hooked = select(handle_to_target <= 0.12, 10.0, hooked)
        reward = select(inserted, hooked, 1.0 + in_place_and_grasped + 5.0 * stick_in_place)
        reward = value(select(held, reward, in_place_and_grasped))
        info = {
            "success": ((handle_to_target <= 0.12) & inserted).to(obs.dtype),
            "near_object": (tcp_to_stick <= 0.03).to(obs.dtype),
            "grasp_reward": value(grasped),
            "in_place_reward": stick_in_place,
            "obj_to_target": handle_to_target,
            "unscaled_reward": reward,
        }
        return reward, info

    @staticmethod
    def _inserted(handle: Tensor, end: Tensor) -> Tensor:
        """``_stick_is_inserted``: the stick's end past the handle in x, and near it in y and z."""
        return (
            (end[:, 0] >= handle[:, 0])
            & ((end[:, 1] - handle[:, 1]).abs() <= 0.04)
            & ((end[:, 2] - handle[:, 2]).abs() <= 0.06)
        )


__all__ = ["StickPull"]
