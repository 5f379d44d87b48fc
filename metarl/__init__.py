"""metarl: task-distributed Gymnasium environments and meta-RL agents on vectorized simulation.

Importing ``metarl`` registers every built-in family with gymnasium (``metarl/<Name>-v0``).
"""

from .meta_env import MetaEnv
from .registry import FamilySpec, register_family, registered_families, unregister_family
from .tasks import Task, TaskBatch, validate_task

__version__ = "0.1.0"

from . import envs  # noqa: E402  (registers the built-in families; needs the names above)

__all__ = [
    "FamilySpec",
    "MetaEnv",
    "Task",
    "TaskBatch",
    "envs",
    "register_family",
    "registered_families",
    "unregister_family",
    "validate_task",
]
