"""stick-push-v3 (``SawyerStickPushEnvV3``): grasp the stick and push the container with it to the goal.

Task: ``rand_vec = (stick x, y, z, goal x, y, z)``; the stick starts at ``(x, y)``, the goal is
``(goal x, goal y)`` at the height of the container's ``insertion`` site. Observed objects: the
stick and the container (the ``insertion`` site shifted 0.09 in y). Reward v2: the gripper
caging reward on the stick (high density, measured from the stick's start, radius 0.04; the
stick point shifted 0.015 in x); while the stick is held above the table ``2 + 5 * (the stick
near the goal) + 3 * (the container near the goal)``, 10 once the container is within 0.12 of it.

``success`` also needs ``grasp_success``, which reads whether both pads press on the stick
(``touching_main_object``): the env gives this class contact sensors and a forward pass after
each step (``contact_object``, ``contacts.py``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .mixed import select, value
from .rewards import norm, tolerance
from .sawyer import Episode, SimView
from .stick import StickClass

TARGET_RADIUS = 0.12
STICK_SHIFT = (0.015, 0.0, 0.0)  # the reward's stick point, from the stick's body


class StickPush(StickClass):
    """Meta-World's stick-push-v3 over a batch of worlds."""

    name = "stick-push-v3"
    container_offset = (0.0, 0.09, 0.0)
    contact_object = "objGeom"  # the stick's geom

    def __init__(self, env, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.stick_shift = self.const(STICK_SHIFT)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        # the goal's height is the insertion site's, read after the hand settled
        height = settled["poses"].site_xpos[:, self.insertion][:, 2:]
        target = torch.cat((rand_vec[:, 3:5], height.to(rand_vec.dtype)), dim=-1)
        return {"target_pos": target, **self.place_stick(s, ids, rand_vec), "init_tcp": settled["init_tcp"]}

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        target, stick_init_pos, obj_init_pos = ep["target_pos"], ep["stick_init_pos"], ep["obj_init_pos"]
        stick, container, tcp_opened = obs[:, 4:7] + self.stick_shift, obs[:, 11:14], obs[:, 3]
        tcp_to_stick = norm(stick - self.tcp_center(s))
        stick_in_place = tolerance(norm(stick - target), (0.0, TARGET_RADIUS),
                                   norm(stick_init_pos - target) - TARGET_RADIUS, "long_tail")  # fmt: skip
        container_to_target = norm(container - target)
        container_in_place = tolerance(container_to_target, (0.0, TARGET_RADIUS),
                                       norm(obj_init_pos - target) - TARGET_RADIUS, "long_tail")  # fmt: skip
        caging = self.caging(action, stick, stick_init_pos, s, ep, obj_radius=0.04)
        lifted = stick[:, 2] - 0.01 > stick_init_pos[:, 2]  # the shift is in x: evaluate_state's test too
        held = (tcp_to_stick < 0.02) & (tcp_opened > 0) & lifted
        pushing = 2.0 + 5.0 * stick_in_place + 3.0 * container_in_place
        pushing = torch.where(container_to_target <= TARGET_RADIUS, torch.full_like(pushing, 10.0), pushing)
        reward = value(select(held, pushing, caging))
        grasp_success = self.touching(s) & (tcp_opened > 0) & lifted
        info = {
            "success": (grasp_success & (container_to_target <= TARGET_RADIUS)).to(obs.dtype),
            "near_object": (tcp_to_stick <= 0.03).to(obs.dtype),
            "grasp_success": grasp_success.to(obs.dtype),
            "grasp_reward": value(select(held, 1.0, caging)),
            "in_place_reward": stick_in_place,
            "obj_to_target": container_to_target,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["StickPush"]
