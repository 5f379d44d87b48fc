"""Trials, what recurrent meta-learners read: the per-step input ``(obs, previous action, previous
reward, done flag)`` and its width."""

from __future__ import annotations

import torch
from gymnasium import spaces
from torch import Tensor

from metarl.common.distributions import encode_action
from metarl.core.spaces import action_dim


def trial_input(obs: Tensor, prev_action: Tensor, prev_reward: Tensor, prev_done: Tensor, space: spaces.Space) -> Tensor:
    """RL^2's per-step input: ``[obs, encode_action(prev_action), prev_reward, prev_done]``.

    ``prev_*`` describe the step that led to ``obs`` (zeros at the start of a trial);
    ``prev_done`` is 1 when that step ended an episode, so the network sees episode boundaries.
    """
    return torch.cat(
        [obs.flatten(1).float(), encode_action(prev_action, space), prev_reward.float()[:, None], prev_done.float()[:, None]],
        dim=-1,
    )


def trial_input_dim(obs_space: spaces.Space, space: spaces.Space) -> int:
    """Width of ``trial_input`` for one sub-env."""
    return int(torch.Size(obs_space.shape).numel()) + action_dim(space) + 2
