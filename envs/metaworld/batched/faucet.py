"""The faucet of faucet-open-v3 and faucet-close-v3: its base moved per task, its handle turned.

Task: ``rand_vec = (faucet x, y, z)``, the faucet base's body position; the goal is ``rand_vec +
(±handle length, 0, 0.125)``, the handle's end turned to one side. The observed point is the
handle's start site of the class, 0.01 lower. Reward v2: ``2 * (2 * reach + 3 * in_place)``
(reach: the gripper centre's distance to the handle point, a Gaussian; in_place: the handle
point's distance to the goal), 10 when the handle point is within the target radius (success).
"""

from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import Tensor

from .rewards import norm, tolerance
from .sawyer import Episode, SawyerClass, SimView, fixed_orientation
from .settled import keep_settled_poses

GOAL_HEIGHT = 0.125  # the goal above the faucet's base
SITE_DROP = (0.0, 0.0, -0.01)  # the observed point, from the handle's start site
REACH_RADIUS = 0.01


class Faucet(SawyerClass):
    """A faucet class: the handle site it observes, the side it turns the handle to, the offset
    its reward adds to the observed point, and whether its reset ends with a forward pass."""

    #: The observed site (``handleStartOpen``/``handleStartClose``).
    handle_site: ClassVar[str]
    #: +1: the goal to the right of the base (open), -1: to the left (close).
    side: ClassVar[float]
    #: Added to the observed point where the reward reads it.
    reward_offset: ClassVar[tuple[float, float, float]]
    #: Whether ``reset_model`` runs ``mj_forward`` after moving the base (else the reset
    #: observation reads the poses the settling left).
    forward_at_reset: ClassVar[bool]
    rand_vec_size = 3
    model_fields = ("body_pos",)

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        super().__init__(env, dtype, device)
        self.base = self.body_id("faucetBase")
        self.handle = self.site_id(self.handle_site)
        self.target_radius = float(env._target_radius)
        self.goal_offset = self.const((self.side * float(env._handle_length), 0.0, GOAL_HEIGHT))
        self.site_drop = self.const(SITE_DROP)
        self.reward_shift = self.const(self.reward_offset)
        # The observed quaternion is faucetBase's xquat: no joint turns the base.
        self.base_quat = self.const(fixed_orientation(env.model, self.base))

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.base] = rand_vec.to(s.qpos.dtype)

    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        if self.forward_at_reset:
            s.forward(ids)
        else:
            keep_settled_poses(s, ids, settled)
        return {"target_pos": rand_vec + self.goal_offset, "obj_init_pos": rand_vec, "init_tcp": settled["init_tcp"]}

    def objects(self, s: SimView) -> Tensor:
        point = s.site_xpos[:, self.handle] + self.site_drop
        return torch.cat((point, self.base_quat.expand(point.shape[0], 4)), dim=-1)

    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        obj = obs[:, 4:7] + self.reward_shift
        target, obj_init_pos = ep["target_pos"], ep["obj_init_pos"]
        radius = self.target_radius
        target_to_obj = norm(obj - target)
        in_place_margin = (norm(obj_init_pos - target) - radius).abs()
        in_place = tolerance(target_to_obj, (0.0, radius), in_place_margin, "long_tail")
        tcp_to_obj = norm(obj - self.tcp_center(s))
        reach_margin = (norm(obj_init_pos - ep["init_tcp"]) - REACH_RADIUS).abs()
        reach = tolerance(tcp_to_obj, (0.0, REACH_RADIUS), reach_margin, "gaussian")
        reward = (2 * reach + 3 * in_place) * 2
        reward = torch.where(target_to_obj <= radius, 10.0, reward)
        info = {
            "success": (target_to_obj <= radius).to(obs.dtype),
            "near_object": (tcp_to_obj <= 0.01).to(obs.dtype),
            "grasp_success": torch.ones_like(reward),
            "grasp_reward": reach,
            "in_place_reward": in_place,
            "obj_to_target": target_to_obj,
            "unscaled_reward": reward,
        }
        return reward, info


__all__ = ["Faucet"]
