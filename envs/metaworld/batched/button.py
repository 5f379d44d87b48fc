"""The buttons of button-press (front and top-down, with and without a wall) and coffee-button.

All five share the reward's terms and ``info``: the button (``obs[:, 4:7]``) near the gripper
centre (``near_button``: a long-tail tolerance of their distance within the class's radius, its
margin the button's distance to the gripper's start), and pressed (``pressed``: the button's
distance to the goal along the pressing axis, within 0.005, with the class's margin); success
when that distance is within the class's radius. The classes differ in how they combine the two
terms with the gripper's opening (``ButtonReward.combine``).

The four button-press classes also share the model: the button box (body ``box``, placed at
``rand_vec``), the button on its slide joint (``btnbox_joint``), the goal at the box's ``hole``
site and the button's start at ``buttonStart`` (``ButtonBox``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import Tensor

from .rewards import hamacher_product, norm, tolerance
from .sawyer import Episode, SawyerClass, SimView, fixed_orientation

PRESSED_RADIUS = 0.005


@dataclass(frozen=True)
class ButtonTerms:
    """The terms of a button's reward, ``(n,)`` each."""

    tcp_to_obj: Tensor  # the gripper centre's distance to the button
    obj_to_target: Tensor  # the button's distance to the goal along the pressing axis
    near_button: Tensor
    pressed: Tensor


class ButtonReward(SawyerClass):
    """A button class's reward and ``info``; a subclass sets the axis and radii below and, unless
    its reward is button-press's, ``combine``."""

    #: The pressing axis: 1 (y, pushed in from the front) or 2 (z, pressed from above).
    press_axis: ClassVar[int]
    #: ``near_button``'s radius.
    near_radius: ClassVar[float]
    #: Success within this distance of the goal along the axis.
    success_radius: ClassVar[float]

    def pressed_margin(self, ep: Episode) -> Tensor | float:
        """``pressed``'s margin: the button's distance to the goal at the episode's start."""
        return ep["_obj_to_target_init"]

    def combine(self, opening: Tensor, t: ButtonTerms) -> Tensor:
        """The reward from the gripper's opening (``obs[:, 3]``) and the terms; button-press's (and
        coffee-button's): ``2 * hamacher(max(opening, 0), near_button)``, plus ``8 * pressed`` once
        the gripper is within 0.05 of the button."""
        reward = 2 * hamacher_product(opening.clamp(min=0.0), t.near_button)
        return torch.where(t.tcp_to_obj <= 0.05, reward + 8 * t.pressed, reward)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj, axis = obs[:, 4:7], self.press_axis
        tcp_to_obj = norm(obj - self.tcp_center(s))
        tcp_to_obj_init = norm(obj - ep["init_tcp"])  # the reference measures from the button now
        obj_to_target = (ep["target_pos"][:, axis] - obj[:, axis]).abs()
        near_button = tolerance(tcp_to_obj, (0.0, self.near_radius), tcp_to_obj_init, "long_tail")
        pressed = tolerance(obj_to_target, (0.0, PRESSED_RADIUS), self.pressed_margin(ep), "long_tail")
        reward = self.combine(obs[:, 3], ButtonTerms(tcp_to_obj, obj_to_target, near_button, pressed))
        info = {
            "success": (obj_to_target <= self.success_radius).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.05).to(obs.dtype),
            "grasp_success": (obs[:, 3] > 0).to(obs.dtype),
            "grasp_reward": near_button,
            "in_place_reward": pressed,
            "obj_to_target": obj_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


class ButtonBox(ButtonReward):
    """A button-press class: the box at ``rand_vec``, the observed point ``button_offset`` from the
    button's body, and whether the reset pulls the button out (``pull_out``)."""

    rand_vec_size = 3
    model_fields = ("body_pos",)
    #: The observed point (the button's face or top), from the button's body frame.
    button_offset: ClassVar[tuple[float, float, float]]
    #: Whether ``reset_model`` sets the button's joint to 0 at rest (``_set_obj_xyz(0)``), or
    #: leaves it as the hand's settling did (top-down).
    pull_out: ClassVar[bool]

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.box = self.body_id("box")
        self.button = self.body_id("button")
        self.hole = self.site_id("hole")
        self.button_start = self.site_id("buttonStart")
        if self.pull_out:
            self.button_qpos = self.joint_qpos("btnbox_joint")
            self.button_dof = self.joint_dof("btnbox_joint")
        self.button_point = self.const(self.button_offset)
        # The observation's quaternion is the button's body xquat (MuJoCo's convention): its
        # joint slides, so the orientation is the box's, fixed.
        self.button_quat = self.const(fixed_orientation(env.model, self.button))

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.box] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        if self.pull_out:
            s.qpos[ids, self.button_qpos] = 0.0
            s.qvel[ids, self.button_dof] = 0.0
        s.forward(ids)  # set_state's, or (top-down) the reference's mj_forward after moving the box
        target = s.site_xpos[ids, self.hole]
        start = s.site_xpos[ids, self.button_start]
        axis = self.press_axis
        return {
            "target_pos": target,
            "init_tcp": settled["init_tcp"],
            "_obj_to_target_init": (target[:, axis] - start[:, axis]).abs(),
        }

    def objects(self, s: SimView) -> Tensor:
        point = s.xpos[:, self.button] + self.button_point
        return torch.cat((point, self.button_quat.expand(point.shape[0], 4)), dim=-1)


__all__ = ["ButtonBox", "ButtonReward", "ButtonTerms", "PRESSED_RADIUS"]
