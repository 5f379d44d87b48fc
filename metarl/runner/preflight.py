"""Checks of a run config against what is installed, made before anything is created on disk.

The config loader checks keys, types and ranges; these check what only the registries know:
that ``env.id`` is a registered task-distributed family and that ``env.kwargs`` are arguments
its constructor takes. Each failure is a :class:`ConfigError` naming the key, the value given
and what is allowed.
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from metarl.common.checks import ConfigError
from metarl.common.config import EnvConfig, RunConfig
from metarl.core.registry import registered_families

__all__ = ["check_env_config", "check_run_config"]


def check_run_config(cfg: RunConfig) -> None:
    """Raise :class:`ConfigError` unless ``cfg.env`` passes ``check_env_config`` and the family
    has the task set ``cfg.eval.split`` evaluates on (``ood`` is optional)."""
    check_env_config(cfg.env)
    if cfg.eval.split == "ood":
        env = gym.make(cfg.env.id, **cfg.env.kwargs)
        has_ood = bool(getattr(env.unwrapped, "has_ood", False))
        env.close()
        if not has_ood:
            raise ConfigError(f"eval.split='ood' but {cfg.env.id} has no ood task set; allowed: 'train', 'test'")


def check_env_config(env: EnvConfig) -> None:
    """Raise :class:`ConfigError` unless ``env.id`` is a registered family that accepts ``env.kwargs``."""
    families = registered_families()
    if env.id not in families:
        raise ConfigError(_unknown_env_message(env.id, list(families)))
    creator = families[env.id].entry_point
    cls = creator if isinstance(creator, type) else load_env_creator(creator)
    _check_kwargs(env.id, cls, env.kwargs)
    try:  # what a signature cannot show: values the family itself refuses
        gym.make(env.id, **env.kwargs).close()
    except (TypeError, ValueError) as e:
        raise ConfigError(f"env.kwargs={dict(env.kwargs)!r} are not accepted by {env.id}: {e}") from None


def _unknown_env_message(env_id: str, families: list[str]) -> str:
    close = difflib.get_close_matches(env_id, families, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    if env_id in gym.registry:
        problem = "is a gymnasium environment but not a task-distributed family (registered with metarl.register_family)"
    else:
        problem = "is not a registered environment"
        if "/" in env_id and not env_id.startswith("metarl/"):
            hint += " A family of your own registers when its module is imported: add --import MODULE"
    return f"env.id={env_id!r} {problem}{hint}; registered families: {', '.join(families)}"


def _check_kwargs(env_id: str, cls: Any, kwargs: Mapping[str, Any]) -> None:
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return  # no signature to read: gym.make in check_env_config still tries them
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    allowed = [n for n, p in params.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and n != "self"]
    for key in kwargs:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(
                f"env.kwargs.{key} is not an argument of {env_id}{hint}; allowed: {', '.join(allowed) or '(none)'}"
            )
