"""Everything a sweep can refuse, refused before Ray starts and before ``OUT`` is written.

Each configuration the sweep can make is loaded as ``metarl train`` loads one (an unknown key, a
wrong type or an impossible value in a ``--grid`` is a ``ConfigError`` naming the key, the value
and what is allowed); the environment is checked against its family (``metarl.runner.preflight``);
the metric must be one the runs produce (``metarl.report.aggregate.check_metric``: episode
indices up to ``eval.episodes``, ``success_rate`` only on families that report success).
"""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

from metarl.common.config import RunConfig, load_config
from metarl.report.aggregate import check_metric
from metarl.runner.preflight import check_run_config
from metarl.sweep.spec import BASE_CONFIG, SPEC_FILE, Axis, SweepSpec, value_text

__all__ = ["check_new_sweep_dir", "check_sweep"]

#: Up to this many combinations every one is loaded; past it, each value of each key on its own.
_MAX_COMBINATIONS = 256


def _points(axis: Axis) -> list[Any]:
    """The values of an axis worth loading: all listed values, or a range's two ends."""
    return list(axis.values) if axis.values is not None else [axis.low, axis.high]


def _combinations(spec: SweepSpec) -> list[list[str]]:
    """Overrides of the configurations to load (each is checked the way ``metarl train`` checks one)."""
    axes = [[f"{a.key}={value_text(v)}" for v in _points(a)] for a in spec.grid]
    total = 1
    for axis in axes:
        total *= len(axis)
    if total <= _MAX_COMBINATIONS:
        return [list(combo) for combo in itertools.product(*axes)]
    # Too many to load each: every value once, beside the first value of every other key.
    firsts = [axis[0] for axis in axes]
    return [firsts[:i] + [value] + firsts[i + 1 :] for i, axis in enumerate(axes) for value in axis]


def _reports_success(env_id: str) -> bool:
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    entry = gym.spec(env_id).entry_point
    family = entry if isinstance(entry, type) else load_env_creator(entry)
    return "success" in getattr(family, "info_keys", ())


def check_sweep(spec: SweepSpec, config: str | os.PathLike) -> list[RunConfig]:
    """Load every configuration of ``spec`` from the base ``config`` and check it, its
    environment and the metric; returns the configs loaded. Raises ``ConfigError`` /
    ``ValueError`` naming the value and what is allowed."""
    configs = []
    checked_envs: set[str] = set()
    for grid_overrides in _combinations(spec):
        cfg = load_config(config, [*spec.overrides, *grid_overrides, f"seed={spec.seeds[0]}"])
        env_key = json.dumps([cfg.env.id, cfg.env.kwargs, cfg.eval.split], sort_keys=True, default=str)
        if env_key not in checked_envs:
            check_run_config(cfg)
            checked_envs.add(env_key)
        check_metric(spec.metric, cfg.eval.episodes, _reports_success(cfg.env.id))
        configs.append(cfg)
    return configs


def check_new_sweep_dir(out: str | os.PathLike) -> None:
    """A new sweep needs a new or empty ``--out``: one holding a sweep is continued with
    ``--resume``, one holding anything else is not written into."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"--out {str(path)!r} is a file; give a new directory")
    if (path / SPEC_FILE).is_file():
        raise FileExistsError(f"--out {str(path)!r} holds a sweep already; continue it with: metarl sweep --resume {path}")
    if path.is_dir() and any(p.name not in (BASE_CONFIG,) for p in path.iterdir()):
        raise FileExistsError(f"--out {str(path)!r} is not empty; give a new or empty directory")
