"""button-press-topdown-v3 (``SawyerButtonPressTopdownEnvV3``): press the button down from above.

Task: ``rand_vec = (box x, y, z)``, the button box's body position; the goal is the box's
``hole`` site. Reward v2: ``5 * hamacher(gripper closedness, near_button)`` (near_button: the
gripper centre's distance to the button's top), plus ``5 * button_pressed`` (the button's
height against the hole's) once the gripper is within 0.03 of the button; success when the
button is within 0.024 of the hole in height.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import torch
from torch import Tensor

from .kinematics import SLIDE
from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView

BUTTON_TOP = (0.0, 0.0, 0.193)  # the observed point: the button's top, from its body frame
NEAR_BUTTON_RADIUS = 0.01
PRESSED_RADIUS = 0.005


def fixed_orientation(model: mujoco.MjModel, body: int) -> np.ndarray:
    """MuJoCo's ``xquat`` of ``body``, ``(w, x, y, z)``, when no joint above it (itself included)
    rotates it: the same in every state, so computed once here. ``ValueError`` otherwise."""
    b = body
    while b > 0:
        kinds = model.jnt_type[model.body_jntadr[b] : model.body_jntadr[b] + model.body_jntnum[b]]
        if model.body_mocapid[b] >= 0 or any(int(k) != SLIDE for k in kinds):
            raise ValueError(f"body {body}'s orientation is not fixed: body {b} has rotational joints or is a mocap")
        b = int(model.body_parentid[b])
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return data.xquat[body].copy()


class ButtonPressTopdown(SawyerClass):
    """Meta-World's button-press-topdown-v3 over a batch of worlds."""

    name = "button-press-topdown-v3"
    rand_vec_size = 3
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.box = self.body_id("box")
        self.button = self.body_id("button")
        self.hole = self.site_id("hole")
        self.button_start = self.site_id("buttonStart")
        self.button_top = self.const(BUTTON_TOP)
        # The observation's quaternion is the button's body xquat (MuJoCo's convention): its
        # joint slides, so the orientation is the box's, fixed.
        self.button_quat = self.const(fixed_orientation(env.model, self.button))

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.box] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        s.forward(ids)  # the reference's mj_forward after moving the box (the button keeps its state)
        target = s.site_xpos[ids, self.hole]
        start = s.site_xpos[ids, self.button_start]
        return {
            "target_pos": target,
            "init_tcp": settled["init_tcp"],
            "_obj_to_target_init": (target[:, 2] - start[:, 2]).abs(),
        }

    def objects(self, s: SimView) -> Tensor:
        top = s.xpos[:, self.button] + self.button_top
        return torch.cat((top, self.button_quat.expand(top.shape[0], 4)), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = obs[:, 4:7]
        tcp = self.tcp_center(s)
        tcp_to_obj = norm(obj - tcp)
        tcp_to_obj_init = norm(obj - ep["init_tcp"])  # the reference measures from the button now
        obj_to_target = (ep["target_pos"][:, 2] - obj[:, 2]).abs()
        near_button = tolerance(tcp_to_obj, (0.0, NEAR_BUTTON_RADIUS), tcp_to_obj_init, "long_tail")
        pressed = tolerance(obj_to_target, (0.0, PRESSED_RADIUS), ep["_obj_to_target_init"], "long_tail")
        reward = 5 * hamacher_product(1 - obs[:, 3], near_button)
        reward = torch.where(tcp_to_obj <= 0.03, reward + 5 * pressed, reward)
        info = {
            "success": (obj_to_target <= 0.024).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.05).to(obs.dtype),
            "grasp_success": (obs[:, 3] > 0).to(obs.dtype),
            "grasp_reward": near_button,
            "in_place_reward": pressed,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["ButtonPressTopdown"]
