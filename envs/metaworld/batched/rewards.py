"""Meta-World's reward utilities over batched torch tensors, written from ``metaworld.utils.reward_utils``.

Every function takes tensors with a leading world dimension ``(n,)`` (``x``, margins that vary
per world) or Python floats (fixed bounds), and computes the same operations in the same order
as the reference, so float64 results agree with Farama's to rounding. Branches become
``torch.where`` selections: both sides are computed for every world, and a side that is not
selected may hold ``inf``/``nan`` (e.g. a division by a zero margin) without affecting the result.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .mixed import Mixed, Number, select

#: ``tolerance``'s value at ``margin`` distance from the bounds (dm_control's default).
VALUE_AT_MARGIN = 0.1

SIGMOIDS = ("gaussian", "hyperbolic", "long_tail", "reciprocal", "cosine", "linear", "quadratic", "tanh_squared")


def sigmoid(x: Tensor, value_at_1: float, kind: str) -> Tensor:
    """Maps distances ``x >= 0`` into (0, 1]: 1 at 0 and ``value_at_1`` at 1 (dm_control's sigmoids)."""
    if kind == "gaussian":
        scale = math.sqrt(-2 * math.log(value_at_1))
        return torch.exp(-0.5 * (x * scale) ** 2)
    if kind == "hyperbolic":
        scale = math.acosh(1 / value_at_1)
        return 1 / torch.cosh(x * scale)
    if kind == "long_tail":
        scale = math.sqrt(1 / value_at_1 - 1)
        return 1 / ((x * scale) ** 2 + 1)
    if kind == "reciprocal":
        scale = 1 / value_at_1 - 1
        return 1 / (x.abs() * scale + 1)
    if kind == "cosine":
        scaled = x * (math.acos(2 * value_at_1 - 1) / math.pi)
        return torch.where(scaled.abs() < 1, (1 + torch.cos(math.pi * scaled)) / 2, 0.0)
    if kind == "linear":
        scaled = x * (1 - value_at_1)
        return torch.where(scaled.abs() < 1, 1 - scaled, 0.0)
    if kind == "quadratic":
        scaled = x * math.sqrt(1 - value_at_1)
        return torch.where(scaled.abs() < 1, 1 - scaled**2, 0.0)
    if kind == "tanh_squared":
        scale = math.atanh(math.sqrt(1 - value_at_1))
        return 1 - torch.tanh(x * scale) ** 2
    raise ValueError(f"unknown sigmoid {kind!r}; allowed: {list(SIGMOIDS)}")


def tolerance(
    x: Tensor,
    bounds: tuple[float, float] = (0.0, 0.0),
    margin: Tensor | float = 0.0,
    kind: str = "gaussian",
    value_at_margin: float = VALUE_AT_MARGIN,
) -> Tensor:
    """1 where ``x`` lies in ``bounds`` (inclusive), else ``sigmoid(distance / margin)``; where
    ``margin`` is 0, 0 outside the bounds (``reward_utils.tolerance``, per world)."""
    lower, upper = bounds
    in_bounds = (lower <= x) & (x <= upper)
    distance = torch.where(x < lower, lower - x, x - upper) / margin
    outside = sigmoid(distance, value_at_margin, kind)
    if not isinstance(margin, Tensor):
        return torch.where(in_bounds, 1.0, outside if margin != 0 else 0.0)
    return torch.where(in_bounds, 1.0, torch.where(margin == 0, 0.0, outside))


def hamacher_product(a: Number, b: Number) -> Any:
    """The Hamacher t-norm ``ab / (a + b - ab)`` (0 where the denominator is 0); ``Mixed`` when
    either operand is (NumPy's float32 contagion), else a tensor."""
    denominator = a + b - (a * b)
    if isinstance(denominator, Mixed):
        return select(denominator > 0, (a * b) / denominator, 0.0)
    return torch.where(denominator > 0, (a * b) / denominator, 0.0)


def norm(x: Tensor) -> Tensor:
    """Euclidean norm over the last dimension."""
    return torch.linalg.vector_norm(x, dim=-1)


def without_y(x: Tensor) -> Tensor:
    """``x + (0, -x_y, 0)`` of points ``(n, 3)``: the point on the x-z plane, built as the
    reference builds it (the y entry subtracted from itself, not dropped)."""
    return torch.stack((x[:, 0], x[:, 1] - x[:, 1], x[:, 2]), dim=-1)


def gripper_closed(action: Tensor, like: Tensor, effort: float = 1.0) -> Mixed:
    """``min(max(0, a[3]), effort) / effort`` of the float32 actions ``(n, 4)`` as the reference
    computes it: a NumPy float32 where ``0 < a[3] <= effort``, else the Python number 0 or 1.
    ``like``: a tensor of the simulation's dtype and device (``(n,)``) for the result."""
    a = action[:, 3]
    f32 = (a > 0) & (a <= effort)
    narrow = (a / torch.tensor(effort, dtype=torch.float32, device=a.device)).to(like.dtype)
    wide = torch.where(a > effort, 1.0, 0.0).to(like.dtype)
    return Mixed(torch.where(f32, narrow, wide), f32)


def gripper_caging(
    action: Tensor,
    obj_pos: Tensor,
    obj_init_pos: Tensor,
    init_tcp: Tensor,
    tcp: Tensor,
    left_pad: Tensor,
    right_pad: Tensor,
    obj_radius: float,
    pad_success_thresh: float,
    object_reach_radius: float,
    xz_thresh: float,
    desired_gripper_effort: float = 1.0,
    high_density: bool = False,
    medium_density: bool = False,
) -> Mixed:
    """``SawyerXYZEnv._gripper_caging_reward``: how well the pads cage the object (y) and the
    gripper centre sits over it (x, z), combined with the gripper's closing effort.

    Positions are ``(n, 3)``: the object now and at the episode start, the gripper centre (tcp)
    now and after the hand reset, the pads' bodies now. ``action`` is the float32 action ``(n, 4)``.
    The result is ``Mixed``: float32 where the closing effort entered it (see ``mixed``).
    """
    if high_density and medium_density:
        raise ValueError("gripper_caging: high_density and medium_density exclude each other; give at most one")
    pad_y = torch.stack((left_pad[:, 1], right_pad[:, 1]), dim=-1)
    pad_to_obj = (pad_y - obj_pos[:, 1:2]).abs()
    pad_to_obj_init = (pad_y - obj_init_pos[:, 1:2]).abs()
    caging_margin = (pad_to_obj_init - pad_success_thresh).abs()
    caging_lr = tolerance(pad_to_obj, (obj_radius, pad_success_thresh), caging_margin, "long_tail")
    caging_y = hamacher_product(caging_lr[:, 0], caging_lr[:, 1])
    xz = [0, 2]
    caging_xz_margin = norm(obj_init_pos[:, xz] - init_tcp[:, xz]) - xz_thresh
    caging_xz = tolerance(norm(tcp[:, xz] - obj_pos[:, xz]), (0.0, xz_thresh), caging_xz_margin, "long_tail")
    closed = gripper_closed(action, caging_y, desired_gripper_effort)
    caging = hamacher_product(caging_y, caging_xz)
    gripping = select(caging > 0.97, closed, 0.0)
    caging_and_gripping = hamacher_product(caging, gripping)
    if high_density:
        caging_and_gripping = (caging_and_gripping + caging) / 2
    if medium_density:
        tcp_to_obj = norm(obj_pos - tcp)
        tcp_to_obj_init = norm(obj_init_pos - init_tcp)
        reach_margin = (tcp_to_obj_init - object_reach_radius).abs()
        reach = tolerance(tcp_to_obj, (0.0, object_reach_radius), reach_margin, "long_tail")
        caging_and_gripping = (caging_and_gripping + reach) / 2
    return caging_and_gripping


def pad_y_caging(
    obj: Tensor, left_pad: Tensor, right_pad: Tensor, bounds: tuple[float, float], pad_success_margin: float
) -> Tensor:
    """How well the pads cage the object in y, as the classes with their own caging reward compute
    it (pick-place, sweep, sweep-into, push-back, soccer): a long-tail ``tolerance`` of each pad's
    signed y distance to the object (``obj``, pads: ``(n, 3)``) within ``bounds``, combined by the
    Hamacher product.

    Each margin is ``||obj_y - pad_y| - pad_success_margin|`` with the pad *now*: those classes'
    ``init_left_pad``/``init_right_pad`` are ``get_body_com`` views of MjData, not copies.
    """
    delta_left = left_pad[:, 1] - obj[:, 1]
    delta_right = obj[:, 1] - right_pad[:, 1]
    # |delta| is |obj_y - pad_y| to the bit: negating a difference is exact.
    left = tolerance(delta_left, bounds, (delta_left.abs() - pad_success_margin).abs(), "long_tail")
    right = tolerance(delta_right, bounds, (delta_right.abs() - pad_success_margin).abs(), "long_tail")
    # IEEE + and * commute, so the product is the same whichever pad the reference names first.
    return hamacher_product(right, left)


def xz_caging(tcp: Tensor, obj: Tensor, obj_init_pos: Tensor, init_tcp: Tensor, xz_success_margin: float) -> Tensor:
    """How well the gripper centre ``tcp`` sits over the object in the x-z plane (the same classes'
    own caging rewards): a long-tail ``tolerance`` of their x-z distance within
    ``xz_success_margin``, its margin the x-z distance at the episode's start less that radius.
    Points are ``(n, 3)``, projected with ``without_y`` as the reference projects them."""
    distance = norm(without_y(tcp) - without_y(obj))
    margin = norm(without_y(obj_init_pos) - without_y(init_tcp)) - xz_success_margin
    return tolerance(distance, (0.0, xz_success_margin), margin, "long_tail")


def pad_grip_caging(
    obj: Tensor,
    tcp: Tensor,
    left_pad: Tensor,
    right_pad: Tensor,
    obj_init_pos: Tensor,
    init_tcp: Tensor,
    obj_radius: float,
    grip_margin: float,
    xz_success_margin: float,
    pad_success_margin: float = 0.05,
) -> Tensor:
    """The caging reward of sweep, sweep-into, push-back and soccer (each class's own
    ``_gripper_caging_reward``): caging in y (``pad_y_caging`` within ``(obj_radius,
    pad_success_margin)``) and in x-z (``xz_caging``), and, once caged above 0.95, the pads' grip
    (``pad_y_caging`` within ``(obj_radius, obj_radius + grip_margin)``) in place of a closing
    effort, so no float32 from the action enters; the mean of the two. Points are ``(n, 3)``."""
    y_caging = pad_y_caging(obj, left_pad, right_pad, (obj_radius, pad_success_margin), pad_success_margin)
    caging = hamacher_product(y_caging, xz_caging(tcp, obj, obj_init_pos, init_tcp, xz_success_margin))
    grip_bounds = (obj_radius, obj_radius + grip_margin)
    gripping = torch.where(caging > 0.95, pad_y_caging(obj, left_pad, right_pad, grip_bounds, pad_success_margin), 0.0)
    return (caging + gripping) / 2
