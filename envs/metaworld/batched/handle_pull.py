"""handle-pull-v3 (``SawyerHandlePullEnvV3``): pull the handle up.

Task: ``rand_vec = (box x, y, z)``, the box's body position (also ``obj_init_pos``); the handle
starts down (its joint at -0.1) and the goal is the box's ``goalPull`` site. The observed
object is the ``handleRight`` site. Reward v2: the Hamacher product of the caging reward (high
density) and ``in_place`` (the handle's height against the goal's), plus ``1 + 5 * in_place``
while the gripper, open, holds the handle up, 10 on success (the handle within ``TARGET_RADIUS``
of the goal in height).

``HandlePull`` also carries handle-pull-side's reward, which differs in the numbers and the
distances named below (``handle_pull_side``).
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor

from .handles import HandleClass
from .mixed import select, value
from .rewards import gripper_caging, hamacher_product, norm, tolerance
from .sawyer import Episode, SimView


class HandlePull(HandleClass):
    """Meta-World's handle-pull-v3 over a batch of worlds."""

    name = "handle-pull-v3"
    observed_site = "handleRight"
    goal_site = "goalPull"
    handle_init = -0.1
    #: The caging reward's object radius and pad threshold.
    obj_radius: ClassVar[float] = 0.022
    pad_success_thresh: ClassVar[float] = 0.05
    #: The "held" bonus's test ``obj[lift_axis] - 0.01 > obj_init_pos[2]``: the reference compares
    #: the handle's y (not its height) with the box's height here.
    lift_axis: ClassVar[int] = 1

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        target = self.set_handle(s, ids)
        return {"target_pos": target, "obj_init_pos": rand_vec, "init_tcp": settled["init_tcp"]}

    def to_target(self, obj: Tensor, ep: Episode) -> tuple[Tensor, Tensor]:
        """The handle's distance to the goal now and at the start (height only)."""
        target = ep["target_pos"]
        return (target[:, 2] - obj[:, 2]).abs(), (target[:, 2] - ep["obj_init_pos"][:, 2]).abs()

    def success(self, target_to_obj: Tensor) -> Tensor:
        return target_to_obj <= self.target_radius

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened, obj_init_pos = obs[:, 4:7], obs[:, 3], ep["obj_init_pos"]
        radius = self.target_radius
        target_to_obj, target_to_obj_init = self.to_target(obj, ep)
        in_place = tolerance(target_to_obj, (0.0, radius), target_to_obj_init, "long_tail")
        tcp = self.tcp_center(s)
        object_grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=self.obj_radius, pad_success_thresh=self.pad_success_thresh, object_reach_radius=0.01,
            xz_thresh=0.01, high_density=True,
        )  # fmt: skip
        reward = hamacher_product(object_grasped, in_place)  # float32 where the closing effort entered
        tcp_to_obj = norm(obj - tcp)
        held = (tcp_to_obj < 0.035) & (tcp_opened > 0) & (obj[:, self.lift_axis] - 0.01 > obj_init_pos[:, 2])
        reward = select(held, reward + (1.0 + 5.0 * in_place), reward)
        reward = value(select(target_to_obj < radius, 10.0, reward))
        info = {
            "success": self.success(target_to_obj).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.05).to(obs.dtype),
            "grasp_success": ((tcp_opened > 0) & (obj[:, 2] - 0.03 > obj_init_pos[:, 2])).to(obs.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["HandlePull"]
