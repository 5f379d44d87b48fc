"""coffee-button-v3 (``SawyerCoffeeButtonEnvV3``): push the coffee machine's button in.

Task: ``rand_vec = (machine x, y, z)``, the coffee machine's body position; the mug (a free
body) is set down at ``rand_vec + (0, -0.22, 0)`` and the goal is the button's start pushed in
by ``max_dist``: ``rand_vec + (0, -0.22, 0.3) + (0, max_dist, 0)``. The observed object is the
button's ``buttonStart`` site, with the constant quaternion ``(1, 0, 0, 0)``. Reward v2 as
button-press-v3 (``button.ButtonReward``), the press measured against ``max_dist``;
success when the button is within 0.02 of the goal in y.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .button import ButtonReward
from .sawyer import Episode, SimView

MUG_OFFSET = (0.0, -0.22, 0.0)  # the mug under the spout, from the machine
BUTTON_OFFSET = (0.0, -0.22, 0.3)  # the button's start, from the machine
BUTTON_QUAT = (1.0, 0.0, 0.0, 0.0)
# ``_set_obj_xyz`` zeroes qvel[9:15] by position: in this model those are arm and finger dofs
# (the mug's free joint is qvel[0:6]); the reference's indices are kept.
ZEROED_QVEL = slice(9, 15)


class CoffeeButton(ButtonReward):
    """Meta-World's coffee-button-v3 over a batch of worlds."""

    name = "coffee-button-v3"
    rand_vec_size = 3
    model_fields = ("body_pos",)
    press_axis = 1
    near_radius = 0.05
    success_radius = 0.02

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.machine = self.body_id("coffee_machine")
        self.button_start = self.site_id("buttonStart")
        mug = env.model.body("obj").id  # not observed: only its free joint (which has no name) is written
        self.mug_qpos = int(env.model.jnt_qposadr[env.model.body_jntadr[mug]])
        self.max_dist = float(env.max_dist)
        self.mug_offset = self.const(MUG_OFFSET)
        self.button_offset = self.const(BUTTON_OFFSET)
        self.press_offset = self.const((0.0, self.max_dist, 0.0))
        self.button_quat = self.const(BUTTON_QUAT)

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.machine] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        s.qpos[ids, self.mug_qpos : self.mug_qpos + 3] = (rand_vec + self.mug_offset).to(s.qpos.dtype)
        s.qvel[ids, ZEROED_QVEL] = 0.0
        s.forward(ids)
        return {"target_pos": (rand_vec + self.button_offset) + self.press_offset, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        start = s.site_xpos[:, self.button_start]
        return torch.cat((start, self.button_quat.expand(start.shape[0], 4)), dim=-1)

    def pressed_margin(self, ep: Episode) -> float:
        return self.max_dist


__all__ = ["CoffeeButton"]
