"""button-press-v3 (``SawyerButtonPressEnvV3``): push the button on the box's front in (along y).

Task: ``rand_vec = (box x, y, z)``, the button box's body position; the button is pulled out to
its joint's zero and the goal is the box's ``hole`` site. Reward v2: ``2 * hamacher(gripper
opening, near_button)`` (near_button: the gripper centre's distance to the button's face), plus
``8 * button_pressed`` (the button's depth against the hole's, in y) once the gripper is within
0.05 of the button; success when the button is within 0.02 of the hole in y.

``press_in_y`` is that reward and ``info``; coffee-button's button uses it too.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .button_press_topdown import fixed_orientation
from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView

BUTTON_FACE = (0.0, -0.193, 0.0)  # the observed point: the button's face, from its body frame
PRESSED_RADIUS = 0.005
SUCCESS_RADIUS = 0.02


def press_in_y(
    obs: Tensor, tcp: Tensor, ep: Episode, near_radius: float, pressed_margin: Tensor | float
) -> tuple[Tensor, dict[str, Tensor]]:
    """Reward v2 and ``info`` of a button pushed in along y (button-press, coffee-button): the
    button (``obs[:, 4:7]``) near the gripper centre ``tcp`` within ``near_radius``, and its depth
    against the goal's y, with ``pressed_margin``."""
    obj = obs[:, 4:7]
    tcp_to_obj = norm(obj - tcp)
    tcp_to_obj_init = norm(obj - ep["init_tcp"])  # the reference measures from the button now
    obj_to_target = (ep["target_pos"][:, 1] - obj[:, 1]).abs()
    tcp_closed = obs[:, 3].clamp(min=0.0)  # max(obs[3], 0.0): the opening, despite its name
    near_button = tolerance(tcp_to_obj, (0.0, near_radius), tcp_to_obj_init, "long_tail")
    pressed = tolerance(obj_to_target, (0.0, PRESSED_RADIUS), pressed_margin, "long_tail")
    reward = 2 * hamacher_product(tcp_closed, near_button)
    reward = torch.where(tcp_to_obj <= 0.05, reward + 8 * pressed, reward)
    info = {
        "success": (obj_to_target <= SUCCESS_RADIUS).to(obs.dtype),
        "near_object": (tcp_to_obj <= 0.05).to(obs.dtype),
        "grasp_success": (obs[:, 3] > 0).to(obs.dtype),
        "grasp_reward": near_button,
        "in_place_reward": pressed,
        "obj_to_target": obj_to_target,
        "unscaled_reward": reward,
    }
    return reward, info


class ButtonPress(SawyerClass):
    """Meta-World's button-press-v3 over a batch of worlds."""

    name = "button-press-v3"
    rand_vec_size = 3
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.box = self.body_id("box")
        self.button = self.body_id("button")
        self.hole = self.site_id("hole")
        self.button_start = self.site_id("buttonStart")
        self.button_qpos = self.joint_qpos("btnbox_joint")
        self.button_dof = self.joint_dof("btnbox_joint")
        self.button_face = self.const(BUTTON_FACE)
        # The observation's quaternion is the button's body xquat: its joint slides, so fixed.
        self.button_quat = self.const(fixed_orientation(env.model, self.button))

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.box] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        s.qpos[ids, self.button_qpos] = 0.0  # _set_obj_xyz(0): the button out, at rest
        s.qvel[ids, self.button_dof] = 0.0
        s.forward(ids)
        target = s.site_xpos[ids, self.hole]
        start = s.site_xpos[ids, self.button_start]
        return {
            "target_pos": target,
            "init_tcp": settled["init_tcp"],
            "_obj_to_target_init": (target[:, 1] - start[:, 1]).abs(),
        }

    def objects(self, s: SimView) -> Tensor:
        face = s.xpos[:, self.button] + self.button_face
        return torch.cat((face, self.button_quat.expand(face.shape[0], 4)), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        return press_in_y(obs, self.tcp_center(s), ep, near_radius=0.05, pressed_margin=ep["_obj_to_target_init"])


__all__ = ["ButtonPress", "press_in_y"]
