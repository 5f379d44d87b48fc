"""How many CPU threads torch uses for a run (``train.threads``).

Small networks (most meta-RL policies, encoders and recurrent cores) run fastest on one thread:
more threads only contend, and two trainings side by side on a 2-core machine slow each other
down several-fold. Large matrix products gain from every core. ``auto`` picks by the trainer's
parameter count, never more than the cores this process may use, and leaves torch's setting
alone where ``OMP_NUM_THREADS`` is set.
"""

from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn

__all__ = ["LARGE_MODEL_PARAMETERS", "available_cores", "choose_threads", "count_parameters", "set_threads"]

#: From this many trainable parameters on, ``auto`` uses every available core.
LARGE_MODEL_PARAMETERS = 1_000_000


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def count_parameters(trainer: Any) -> int:
    """Trainable parameters of the torch modules a trainer (and its agent) hold as attributes."""
    holders = [obj for obj in (trainer, getattr(trainer, "agent", None)) if hasattr(obj, "__dict__")]
    modules = [v for obj in holders for v in vars(obj).values()]
    seen: set[int] = set()
    total = 0
    for module in (m for m in modules if isinstance(m, nn.Module)):
        for p in module.parameters():
            if id(p) not in seen and p.requires_grad:
                seen.add(id(p))
                total += p.numel()
    return total


def choose_threads(setting: int | str, parameters: int, device: torch.device) -> int | None:
    """The thread count for ``train.threads`` (None: leave torch's as it is)."""
    if setting != "auto":
        return min(int(setting), available_cores())
    if device.type != "cpu" or os.environ.get("OMP_NUM_THREADS"):
        return None
    return available_cores() if parameters >= LARGE_MODEL_PARAMETERS else 1


def set_threads(setting: int | str, trainer: Any, device: torch.device) -> int:
    """Apply :func:`choose_threads` to torch; returns the thread count in use."""
    threads = choose_threads(setting, count_parameters(trainer), device)
    if threads is not None:
        torch.set_num_threads(threads)
    return torch.get_num_threads()
