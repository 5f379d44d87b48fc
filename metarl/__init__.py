"""metarl: task-distributed Gymnasium environments and meta-RL agents on vectorized simulation.

Importing ``metarl`` registers every built-in family with gymnasium (``metarl/<Name>-v0``). It
imports neither torch nor the families' modules: they load at the first ``gymnasium.make`` or
at first use of the names below, so the ``metarl`` command starts at once.
"""

from typing import Any

from metarl.core.registry import (
    FamilySpec,
    analytic_vector_entry,
    register_family,
    registered_families,
    unregister_family,
)

__version__ = "0.1.0"

from . import envs  # noqa: E402  (registers the built-in families; needs the names above)

# Names whose modules import torch, loaded on first use (PEP 562).
_LAZY = {
    "MetaEnv": "core.meta_env",
    "Task": "core.tasks",
    "TaskBatch": "core.tasks",
    "validate_task": "core.tasks",
    "AnalyticDynamics": "core.analytic",
    "AnalyticEnv": "core.analytic",
    "StepResult": "core.analytic",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "AnalyticDynamics",
    "AnalyticEnv",
    "FamilySpec",
    "StepResult",
    "analytic_vector_entry",
    "MetaEnv",
    "Task",
    "TaskBatch",
    "envs",
    "register_family",
    "registered_families",
    "unregister_family",
    "validate_task",
]
