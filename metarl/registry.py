"""Registration of task-distributed families with gymnasium, checked at registration time."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from .tasks import check_task_space

_ID_PATTERN = re.compile(r"^([A-Za-z0-9_.\-]+/)?[A-Za-z0-9_.\-]+-v\d+$")
_REQUIRED_METHODS = ("set_task", "get_task", "sample_tasks")


@dataclass(frozen=True)
class FamilySpec:
    """What metarl knows about a registered family (the gymnasium spec holds the rest)."""

    id: str
    entry_point: str | type
    max_episode_steps: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    vector_entry_point: str | None = None


_FAMILIES: dict[str, FamilySpec] = {}


def register_family(
    id: str,
    entry_point: str | type,
    *,
    max_episode_steps: int,
    kwargs: dict[str, Any] | None = None,
    vector_entry_point: str | None = None,
) -> FamilySpec:
    """Register a task-distributed environment with gymnasium and with ``metarl envs``.

    ``entry_point`` names a ``gymnasium.Env`` subclass that declares ``task_space`` at class
    level and has ``set_task``, ``get_task`` and ``sample_tasks``: a ``"module:Class"`` string,
    or the class itself (stored as its ``"module:Class"`` path, so it stays picklable for async
    vectorization, unless it lives in ``__main__``). ``id`` must be versioned,
    ``"[namespace/]Name-vN"``. A malformed or duplicate registration raises at once.
    """
    if not isinstance(id, str) or not _ID_PATTERN.match(id):
        raise ValueError(f"environment id {id!r} is malformed; expected a versioned id '[namespace/]Name-vN'")
    if id in _FAMILIES or id in gym.registry:
        raise ValueError(f"environment id {id!r} is already registered; choose another name or version")
    if not isinstance(max_episode_steps, int) or max_episode_steps < 1:
        raise ValueError(f"max_episode_steps must be a positive integer, got {max_episode_steps!r}")
    cls = _resolve_entry_point(id, entry_point)
    if isinstance(entry_point, type) and cls.__module__ != "__main__":
        entry_point = f"{cls.__module__}:{cls.__qualname__}"
    _check_family_class(id, cls)
    gym.register(
        id=id,
        entry_point=entry_point,
        vector_entry_point=vector_entry_point,
        max_episode_steps=max_episode_steps,
        kwargs=dict(kwargs or {}),
    )
    spec = FamilySpec(id, entry_point, max_episode_steps, dict(kwargs or {}), vector_entry_point)
    _FAMILIES[id] = spec
    return spec


def _resolve_entry_point(id: str, entry_point: str | type) -> Any:
    if isinstance(entry_point, type):
        return entry_point
    if not isinstance(entry_point, str) or ":" not in entry_point:
        raise ValueError(f"{id}: entry_point must be a class or a 'module:Class' string, got {entry_point!r}")
    try:
        return load_env_creator(entry_point)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"{id}: entry_point {entry_point!r} cannot be loaded: {err}") from err


def _check_family_class(id: str, cls: Any) -> None:
    if not (isinstance(cls, type) and issubclass(cls, gym.Env)):
        raise TypeError(f"{id}: entry point must be a gymnasium.Env subclass, got {cls!r}")
    missing = [m for m in _REQUIRED_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise TypeError(f"{id}: {cls.__name__} lacks the task methods {missing}; required: {list(_REQUIRED_METHODS)}")
    task_space = None
    for base in cls.__mro__:
        if "task_space" in base.__dict__:
            task_space = base.__dict__["task_space"]
            break
    if isinstance(task_space, property):
        return  # depends on constructor arguments; MetaEnv checks it when the env is built
    if task_space is None:
        raise TypeError(
            f"{id}: {cls.__name__} declares no task_space; declare a gymnasium.spaces.Dict as a class "
            "attribute (or a property) naming the task parameters"
        )
    check_task_space(task_space, f"{id}: {cls.__name__}")


def registered_families() -> dict[str, FamilySpec]:
    """The registered families by id, in registration order."""
    return dict(_FAMILIES)


def unregister_family(id: str) -> None:
    """Remove a family from metarl's and gymnasium's registries (for tests and notebooks)."""
    if id not in _FAMILIES:
        raise KeyError(f"{id!r} is not a registered family; registered: {list(_FAMILIES)}")
    del _FAMILIES[id]
    gym.registry.pop(id, None)

