"""The one checkpointable-state mechanism: a learner declares what it owns; one place saves and restores it.

A learner subclasses :class:`Checkpointable` and lists its state in ``state_fields``: checkpoint
key -> attribute path, e.g. ``{"agent": "agent", "generators/agent": "agent.generator",
"env_steps": "env_steps"}`` (a ``/`` in a key nests it: ``state["generators"]["agent"]``). What an
attribute holds decides how it is saved:

- an object with ``state_dict`` / ``load_state_dict`` (modules, optimizers, running statistics,
  replay buffers): its ``state_dict()``, loaded back in place;
- a ``torch.Generator``: its RNG state;
- an ``int`` / ``float`` counter, a list of numbers (the last ``HISTORY`` entries, e.g. episode
  returns), a dict of any of these (e.g. several optimizers by name);
- ``None``, a part this configuration does not have (say TRPO's value network under PPO): saved
  as ``None`` and, when loading, whatever the checkpoint holds there is ignored.

Only tensors and plain values are produced, so checkpoints load with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch

#: Lists (per-episode histories) keep their last ``HISTORY`` entries in a checkpoint.
HISTORY = 1000


class Checkpointable:
    """Mixin for learners: ``state_dict`` / ``load_state_dict`` from the declared ``state_fields``."""

    #: Checkpoint key (``/`` nests) -> attribute path (``.`` descends), in saving order.
    state_fields: ClassVar[Mapping[str, str]]

    def state_dict(self) -> dict[str, Any]:
        """Everything ``state_fields`` names, as tensors and plain values."""
        state: dict[str, Any] = {}
        for key, path in self.state_fields.items():
            *parents, leaf = key.split("/")
            node = state
            for parent in parents:
                node = node.setdefault(parent, {})
            node[leaf] = _save(_get(self, path))
        return state

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore what ``state_dict`` saved, in place; a missing key is a ``KeyError`` naming it."""
        for key, path in self.state_fields.items():
            if _get(self, path) is None:
                continue  # a part this configuration does not have
            value: Any = state
            for part in key.split("/"):
                if not isinstance(value, Mapping) or part not in value:
                    raise KeyError(f"the checkpoint has no {key!r}")
                value = value[part]
            owner_path, _, attribute = path.rpartition(".")
            owner = _get(self, owner_path) if owner_path else self
            setattr(owner, attribute, _load(getattr(owner, attribute), value, key))


def _get(obj: Any, path: str) -> Any:
    """The attribute at ``path``; ``None`` where a part on the way is ``None`` (an absent option)."""
    for attribute in path.split("."):
        if obj is None:
            return None
        obj = getattr(obj, attribute)
    return obj


def _save(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, torch.Generator):
        return value.get_state()
    if hasattr(value, "state_dict"):
        return value.state_dict()
    if isinstance(value, list):
        return list(value[-HISTORY:])
    if isinstance(value, dict):
        return {k: _save(v) for k, v in value.items()}
    raise TypeError(f"cannot checkpoint a {type(value).__name__}; declare state_dict/load_state_dict on it")


def _load(current: Any, saved: Any, key: str) -> Any:
    """The attribute's new value: ``current`` restored in place where it has state, else ``saved``."""
    if isinstance(current, torch.Generator):
        current.set_state(saved)
        return current
    if hasattr(current, "load_state_dict"):
        current.load_state_dict(saved)
        return current
    if isinstance(current, dict):
        if not isinstance(saved, Mapping) or set(saved) != set(current):
            found = sorted(saved) if isinstance(saved, Mapping) else type(saved).__name__
            raise KeyError(f"the checkpoint's {key!r} holds {found}; expected {sorted(current)}")
        return {k: _load(v, saved[k], f"{key}/{k}") for k, v in current.items()}
    if isinstance(current, list):
        return list(saved)
    if isinstance(current, (bool, int, float)):
        if not isinstance(saved, (bool, int, float)):
            raise TypeError(f"the checkpoint's {key!r} is a {type(saved).__name__}; expected a number")
        return type(current)(saved)
    raise TypeError(f"cannot restore a {type(current).__name__} at {key!r}")
