"""The action spaces metarl's policies support, and an action's width as a network input."""

from __future__ import annotations

from gymnasium import spaces


def check_action_space(space: spaces.Space) -> None:
    """Raise unless ``space`` is a ``Discrete`` or a bounded ``Box`` (what the policies here support)."""
    if isinstance(space, spaces.Discrete):
        return
    if isinstance(space, spaces.Box) and space.is_bounded("both") and len(space.shape) == 1:
        return
    raise ValueError(f"unsupported action space {space!r}; allowed: Discrete or a bounded 1-D Box")


def action_dim(space: spaces.Space) -> int:
    """Width of an action as a network input: arms of a ``Discrete`` (one-hot), else the Box size."""
    check_action_space(space)
    return int(space.n) if isinstance(space, spaces.Discrete) else int(space.shape[0])
