"""Per-world numbers that follow NumPy's float32 contagion in Farama's reward code.

Farama's rewards are Python floats, except where a NumPy ``float32`` scalar from the float32
action enters (``min(max(0, action[-1]), 1)``): NumPy (NEP 50) then rounds the Python floats it
meets to float32 and computes in float32, and the result stays float32 downstream (the drawer's
reward, the caging reward of push and pick-place). Which path a world takes depends on its
values (``max(0, a)`` is the int ``0`` for ``a <= 0``), so ``Mixed`` carries, per world, the
value and whether it is float32 there: an operation computes both ways and keeps the float32
result where either operand is float32. Plain tensors and Python floats act as Python floats.
(A NumPy ``float64`` scalar, which would make NumPy compute in float64, is not modelled: the
classes so far pass Python floats, since ``tolerance`` returns ``.item()`` and they call ``float``.)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Union

import torch
from torch import Tensor

Number = Union["Mixed", Tensor, float]


@dataclass(frozen=True)
class Mixed:
    """Values ``(n,)`` (in the simulation's dtype) and where they are NumPy float32 (``f32``, bool)."""

    value: Tensor
    f32: Tensor

    # ----- arithmetic: the float32 result where either operand is float32 ------------------------
    def __add__(self, other: Number) -> Mixed:
        return _binary(self, other, torch.add)

    def __radd__(self, other: Number) -> Mixed:
        return _binary(other, self, torch.add)

    def __sub__(self, other: Number) -> Mixed:
        return _binary(self, other, torch.sub)

    def __rsub__(self, other: Number) -> Mixed:
        return _binary(other, self, torch.sub)

    def __mul__(self, other: Number) -> Mixed:
        return _binary(self, other, torch.mul)

    def __rmul__(self, other: Number) -> Mixed:
        return _binary(other, self, torch.mul)

    def __truediv__(self, other: Number) -> Mixed:
        return _binary(self, other, torch.div)

    def __rtruediv__(self, other: Number) -> Mixed:
        return _binary(other, self, torch.div)

    # ----- comparisons (NumPy compares a float32 scalar with a Python float in float32) -----------
    def __gt__(self, other: Number) -> Tensor:  # type: ignore[override]
        return _compare(self, other, torch.gt)

    def __ge__(self, other: Number) -> Tensor:  # type: ignore[override]
        return _compare(self, other, torch.ge)

    def __lt__(self, other: Number) -> Tensor:  # type: ignore[override]
        return _compare(self, other, torch.lt)

    def __le__(self, other: Number) -> Tensor:  # type: ignore[override]
        return _compare(self, other, torch.le)


def _parts(x: Number, like: Tensor) -> tuple[Tensor, Tensor]:
    if isinstance(x, Mixed):
        return x.value, x.f32
    value = x if isinstance(x, Tensor) else torch.full_like(like, float(x))
    return value, torch.zeros(value.shape, dtype=torch.bool, device=value.device)


def _like(a: Number, b: Number) -> Tensor:
    for x in (a, b):
        if isinstance(x, Mixed):
            return x.value
    raise TypeError("a Mixed operation needs at least one Mixed operand")


def _binary(a: Number, b: Number, op: Callable[[Tensor, Tensor], Tensor]) -> Mixed:
    like = _like(a, b)
    (av, af), (bv, bf) = _parts(a, like), _parts(b, like)
    f32 = af | bf
    wide = op(av, bv)
    narrow = op(av.to(torch.float32), bv.to(torch.float32)).to(wide.dtype)
    return Mixed(torch.where(f32, narrow, wide), f32)


def _compare(a: Number, b: Number, op: Callable[[Tensor, Tensor], Tensor]) -> Tensor:
    like = _like(a, b)
    (av, af), (bv, bf) = _parts(a, like), _parts(b, like)
    return torch.where(af | bf, op(av.to(torch.float32), bv.to(torch.float32)), op(av, bv))


def select(condition: Tensor, a: Number, b: Number) -> Mixed:
    """``a if condition else b`` per world (a Python ``x if c else y``), precision included."""
    like = _like(a, b) if isinstance(a, Mixed) or isinstance(b, Mixed) else (a if isinstance(a, Tensor) else b)
    if not isinstance(like, Tensor):
        raise TypeError("select needs at least one tensor operand")
    (av, af), (bv, bf) = _parts(a, like), _parts(b, like)
    return Mixed(torch.where(condition, av, bv), torch.where(condition, af, bf))


def value(x: Number) -> Tensor:
    """The values of ``x`` as a plain tensor (float32 results widened exactly)."""
    return x.value if isinstance(x, Mixed) else x


def plain(x: Tensor) -> Mixed:
    """``x`` as Python floats (never float32)."""
    return Mixed(x, torch.zeros(x.shape, dtype=torch.bool, device=x.device))
