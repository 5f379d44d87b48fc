"""The mug and coffee machine of coffee-push-v3 and coffee-pull-v3 (``sawyer_coffee.xml``).

Both classes move the mug along the table, from ``rand_vec[:3]`` to the goal ``rand_vec[3:]``,
with the coffee machine's body 0.22 behind one of the two (``machine_under``). They share the
reward v2: the Hamacher product of the gripper caging reward (medium density: caging, gripping
with a closing effort of 0.7, and reaching) and ``in_place`` (the mug's distance to the goal,
x and y weighted twice), plus ``1 + 5 * in_place`` while the gripper is at the mug and open,
10 once that weighted distance is below 0.05; success: the mug within 0.07 of the goal.

The model puts the mug's free joint first (``qpos[0:7]``, ``qvel[0:6]``); the classes' own
``_set_obj_xyz`` writes the mug's position there and, as the reference does, zeroes
``qvel[9:15]`` (arm and finger joints), leaving the mug's velocity as it was.

``grasp_success`` is not computed: it needs the contact forces between each pad and the mug
(``touching_main_object``), which the batched simulators do not expose.
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .mixed import select, value
from .rewards import gripper_caging, hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView, quat_from_matrix

MACHINE_OFFSET = (0.0, 0.22, 0.0)  # the coffee machine's body, behind the mug's start or goal
ZEROED_QVEL = slice(9, 15)  # what the classes' _set_obj_xyz zeroes (the arm's, not the mug's)
SCALE = (2.0, 2.0, 1.0)  # in_place weighs the x and y errors twice
IN_PLACE_RADIUS = 0.05
SUCCESS_RADIUS = 0.07


class Coffee(SawyerClass):
    """The shared definition of the two classes that move the mug (``machine_under`` picks where
    the machine stands)."""

    rand_vec_size = 6
    model_fields = ("body_pos",)
    info_keys = ("success", "near_object", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward")
    #: ``"goal"`` (coffee-push: the machine behind the goal) or ``"start"`` (coffee-pull: behind the mug's start).
    machine_under: ClassVar[str]

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.mug_body = self.body_id("obj")
        self.mug_geom = self.geom_id("mug")
        self.machine = self.body_id("coffee_machine")
        self.mug_qpos = int(env.model.jnt_qposadr[env.model.body_jntadr[self.mug_body]])
        self.machine_offset = self.const(MACHINE_OFFSET)
        self.scale = self.const(SCALE)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        under = rand_vec[:, 3:] if self.machine_under == "goal" else rand_vec[:, :3]
        s.body_pos[ids, self.machine] = (under + self.machine_offset).to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        obj_init_pos = rand_vec[:, :3]
        s.qpos[ids, self.mug_qpos : self.mug_qpos + 3] = obj_init_pos.to(s.qpos.dtype)
        s.qvel[ids, ZEROED_QVEL] = 0.0
        s.forward(ids)
        return {"target_pos": rand_vec[:, 3:], "obj_init_pos": obj_init_pos, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        # The mug body's position and the orientation of its geom ``mug``.
        return torch.cat((s.xpos[:, self.mug_body], quat_from_matrix(s.geom_xmat[:, self.mug_geom])), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, tcp_opened = obs[:, 4:7], obs[:, 3]
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        target_to_obj = norm((obj - target) * self.scale)
        target_to_obj_init = norm((obj_init_pos - target) * self.scale)
        in_place = tolerance(target_to_obj, (0.0, IN_PLACE_RADIUS), target_to_obj_init, "long_tail")
        tcp = self.tcp_center(s)
        tcp_to_obj = norm(obj - tcp)
        object_grasped = gripper_caging(
            action, obj, obj_init_pos, ep["init_tcp"], tcp, s.body(self.ids.left_pad), s.body(self.ids.right_pad),
            obj_radius=0.02, pad_success_thresh=0.05, object_reach_radius=0.04, xz_thresh=0.05,
            desired_gripper_effort=0.7, medium_density=True,
        )  # fmt: skip
        reward = hamacher_product(object_grasped, in_place)  # float32 where the closing effort entered
        at_mug = (tcp_to_obj < 0.04) & (tcp_opened > 0)
        reward = select(at_mug, reward + (1.0 + 5.0 * in_place), reward)
        reward = value(select(target_to_obj < IN_PLACE_RADIUS, 10.0, reward))
        obj_to_target = norm(obj - target)  # unweighted, for success and info
        info = {
            "success": (obj_to_target <= SUCCESS_RADIUS).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.03).to(obs.dtype),
            "grasp_reward": value(object_grasped),
            "in_place_reward": in_place,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["Coffee"]
