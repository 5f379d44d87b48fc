"""Random-number-generator state: captured into checkpoints and restored on resume."""

from __future__ import annotations

import random
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

__all__ = ["rng_state", "set_rng_state"]

Generator = torch.Generator | np.random.Generator


def rng_state(generators: Mapping[str, Generator] | None = None) -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators (CUDA's too when in use).

    ``generators`` adds named generators owned by other objects, e.g. an env's
    ``torch.Generator`` or ``np_random``. The result can go into a checkpoint as it is.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (name, keys.tolist(), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "generators": {},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    for key, gen in (generators or {}).items():
        if isinstance(gen, torch.Generator):
            state["generators"][key] = gen.get_state()
        elif isinstance(gen, np.random.Generator):
            state["generators"][key] = gen.bit_generator.state
        else:
            raise TypeError(f"generator {key!r} is a {type(gen).__name__}; expected torch.Generator or numpy Generator")
    return state


def set_rng_state(state: Mapping[str, Any], generators: Mapping[str, Generator] | None = None) -> None:
    """Restore what :func:`rng_state` captured; ``generators`` must have the same names."""
    random.setstate(_as_tuples(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(state["cuda"]):
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            warnings.warn(
                f"the checkpoint holds CUDA generator states for {len(state['cuda'])} device(s) but "
                f"{torch.cuda.device_count() if torch.cuda.is_available() else 'no'} CUDA device(s) are visible; "
                "CUDA random draws will not repeat those of the original run",
                stacklevel=2,
            )
    generators = dict(generators or {})
    saved = state["generators"]
    if set(saved) != set(generators):
        raise KeyError(f"generators {sorted(generators)} do not match those saved, {sorted(saved)}")
    for key, gen in generators.items():
        if isinstance(gen, torch.Generator):
            gen.set_state(saved[key])
        else:
            gen.bit_generator.state = saved[key]


def _as_tuples(value: Any) -> Any:
    """``random.setstate`` needs tuples; a checkpoint may hand back lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
