"""Registration of task-distributed families with gymnasium, checked at registration time."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

_ID_PATTERN = re.compile(r"^([A-Za-z0-9_.\-]+/)?[A-Za-z0-9_.\-]+-v\d+$")
_REQUIRED_METHODS = ("set_task", "get_task", "sample_tasks")


@dataclass(frozen=True)
class FamilySpec:
    """What metarl knows about a registered family (the gymnasium spec holds the rest)."""

    id: str
    entry_point: str | type
    max_episode_steps: int
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: What ``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")`` calls: a
    #: ``"module:attr"`` string or a callable (``generic_vector_entry`` when none was given).
    vector_entry_point: str | gym.envs.registration.VectorEnvCreator | None = None
    #: Families that differ only in an option share a ``group`` (e.g. ``"metarl/ML1-<class>-v0"``):
    #: ``metarl envs`` lists a group on one line.
    group: str | None = None


_FAMILIES: dict[str, FamilySpec] = {}

#: The batched faces a ``VectorEntry`` builds, by ``"module:Class"`` (loaded at the first ``make_vec``).
GENERIC_FACE = "metarl.core.generic_vector:GenericVectorEnv"
ANALYTIC_FACE = "metarl.core.vector:AnalyticVectorEnv"


@dataclass(frozen=True)
class VectorEntry:
    """A vector entry point: the batched face ``face`` (a ``"module:Class"`` of a
    ``TaskVectorEnv`` subclass) over the family ``family`` (its single-env class or
    ``"module:Class"``). ``make_vec``'s keyword arguments (``num_envs``, ``device``, ``tasks``,
    family options, ...) override ``defaults``. Picklable, and nothing is imported until a
    batched env is made. Build one with ``generic_vector_entry`` or ``analytic_vector_entry``."""

    face: str
    family: str | type
    defaults: dict[str, Any] = field(default_factory=dict)

    def __call__(self, **kwargs: Any) -> gym.vector.VectorEnv:
        """``face(family, **defaults, **kwargs)``: the batched env."""
        face = load_env_creator(self.face)
        family = load_env_creator(self.family) if isinstance(self.family, str) else self.family
        return face(family, **{**self.defaults, **kwargs})


def generic_vector_entry(entry_point: str | type, **defaults: Any) -> VectorEntry:
    """The generic batched face of a family: ``metarl.core.generic_vector.GenericVectorEnv`` over N
    copies of the single env ``entry_point`` (a ``MetaEnv`` subclass or ``"module:Class"``).

    ``register_family`` uses it for every family registered without a ``vector_entry_point``.
    Give it yourself to change its defaults, e.g. ``generic_vector_entry(MyEnv, workers=4)`` to
    step the copies in 4 subprocesses (``make_vec(..., workers=K)`` overrides it per call).
    """
    return VectorEntry(GENERIC_FACE, entry_point, dict(defaults))


def analytic_vector_entry(family: str | type) -> VectorEntry:
    """The native batched face of an analytic family: ``metarl.core.vector.AnalyticVectorEnv``, which
    runs the family's ``AnalyticDynamics`` (batched torch) over all sub-envs at once.

    ``family``: a ``metarl.core.analytic.AnalyticEnv`` subclass (or its ``"module:Class"``) whose
    constructor takes ``task=None`` and the family's options and builds its dynamics. Register
    with ``register_family(id, MyEnv, ..., vector_entry_point=analytic_vector_entry(MyEnv))``.
    """
    if isinstance(family, type):
        from metarl.core.analytic import AnalyticEnv  # torch: only when an analytic family is registered

        if not issubclass(family, AnalyticEnv):
            raise TypeError(f"analytic_vector_entry needs a metarl.core.analytic.AnalyticEnv subclass, got {family!r}")
    elif not (isinstance(family, str) and ":" in family):
        raise TypeError(f"analytic_vector_entry needs an AnalyticEnv subclass or its 'module:Class', got {family!r}")
    return VectorEntry(ANALYTIC_FACE, family)


def register_family(
    id: str,
    entry_point: str | type,
    *,
    max_episode_steps: int,
    kwargs: dict[str, Any] | None = None,
    vector_entry_point: str | gym.envs.registration.VectorEnvCreator | None = None,
) -> FamilySpec:
    """Register a task-distributed environment with gymnasium and with ``metarl envs``.

    ``entry_point`` names a ``gymnasium.Env`` subclass that declares ``task_space`` at class
    level and has ``set_task``, ``get_task`` and ``sample_tasks``: a ``"module:Class"`` string,
    or the class itself (stored as its ``"module:Class"`` path, so it stays picklable for async
    vectorization, unless it lives in ``__main__``). ``id`` must be versioned,
    ``"[namespace/]Name-vN"``. A malformed or duplicate registration raises at once.

    ``vector_entry_point``: what ``gymnasium.make_vec(id, num_envs=N,
    vectorization_mode="vector_entry_point", device=..., **kwargs)`` calls to build the batched
    face every agent trains on: a ``"module:attr"`` string, a class or any callable taking those
    keyword arguments and returning a ``gymnasium.vector.VectorEnv`` (best a
    ``metarl.core.vector.TaskVectorEnv``). ``analytic_vector_entry(MyEnv)`` gives the native face of
    an analytic family. Without one, the family gets the generic face,
    ``generic_vector_entry(entry_point)``: N copies of the single env stepped in a Python loop
    (the slow-but-universal path).
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
    if vector_entry_point is None:
        vector_entry_point = generic_vector_entry(entry_point)
    else:
        _check_vector_entry_point(id, vector_entry_point)
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


def _check_vector_entry_point(id: str, vector_entry_point: Any) -> None:
    # A string is not loaded here: it usually names the module that is registering the family,
    # still half-imported at this point; gymnasium loads it at the first make_vec.
    if isinstance(vector_entry_point, str):
        if ":" not in vector_entry_point:
            raise ValueError(f"{id}: vector_entry_point must be a 'module:attr' string or a callable, got {vector_entry_point!r}")
    elif not callable(vector_entry_point):
        raise TypeError(f"{id}: vector_entry_point must be a 'module:attr' string or a callable, got {vector_entry_point!r}")


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
    from metarl.core.tasks import check_task_space  # torch: only when a family is checked

    check_task_space(task_space, f"{id}: {cls.__name__}")


def register_builtin_family(
    id: str,
    entry_point: str,
    *,
    max_episode_steps: int,
    vector_entry_point: str | VectorEntry,
    kwargs: dict[str, Any] | None = None,
    group: str | None = None,
) -> None:
    """Register one of metarl's own families by ``"module:attr"`` strings without importing them,
    so ``import metarl`` stays light (no torch); its class is loaded at the first ``make``. The
    built-in classes are checked by the tests instead of at import. ``kwargs`` go to the family
    (both faces), as a registration's ``kwargs`` do in gymnasium; ``group``: see ``FamilySpec``."""
    kwargs = dict(kwargs or {})
    gym.register(id=id, entry_point=entry_point, vector_entry_point=vector_entry_point,
                 max_episode_steps=max_episode_steps, kwargs=kwargs)  # fmt: skip
    _FAMILIES[id] = FamilySpec(id, entry_point, max_episode_steps, kwargs, vector_entry_point, group)


def registered_families() -> dict[str, FamilySpec]:
    """The registered families by id, in registration order."""
    return dict(_FAMILIES)


def unregister_family(id: str) -> None:
    """Remove a family from metarl's and gymnasium's registries (for tests and notebooks)."""
    if id not in _FAMILIES:
        raise KeyError(f"{id!r} is not a registered family; registered: {list(_FAMILIES)}")
    del _FAMILIES[id]
    gym.registry.pop(id, None)

