"""A sweep's trials and how far each got, read from its run directories (the only record kept).

A *group* is one configuration: the base config with the shared overrides and one value per
swept key (``params``). A group is trained on every seed of the sweep; each (group, seed) is one
run directory, ``OUT/runs/<group>-seed<k>/``. A run is ``finished`` when its newest checkpoint is
at ``train.total_steps`` and its evaluation was written at that step, ``started`` when it has a
checkpoint to resume from, else ``new`` (a run killed before its first checkpoint starts again
in place). A trial that raised leaves its traceback in ``OUT/errors/<run>.txt``, removed when a
retry succeeds.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from metarl.common.files import atomic_write_bytes
from metarl.runner.runs import CONFIG_FILE, checkpoint_paths, checkpoint_step, evaluated_at_checkpoint
from metarl.sweep.spec import SweepSpec, label_text, value_text

__all__ = ["ERRORS_DIR", "RUNS_DIR", "Group", "RunState", "config_value", "grid_groups", "run_state"]

RUNS_DIR = "runs"
ERRORS_DIR = "errors"
RunState = Literal["finished", "started", "new"]


@dataclass(frozen=True)
class Group:
    """One configuration of a sweep: ``params`` maps each swept key to its value; ``name`` is the
    prefix of its run directories (the config's file name when nothing is swept)."""

    name: str
    params: dict[str, Any]

    def overrides(self) -> list[str]:
        """The group's ``key=value`` overrides (on top of the sweep's shared ones)."""
        return [f"{key}={value_text(value)}" for key, value in self.params.items()]


def make_group(spec: SweepSpec, params: dict[str, Any]) -> Group:
    """The group of ``params`` (values of ``spec.keys``): named ``key=value,...`` in the order of
    the keys, so a sampled configuration maps to the same run directories again on resume."""
    params = {key: params[key] for key in spec.keys}
    if not params:
        return Group(Path(spec.source).stem or "run", {})
    return Group(",".join(f"{key}={label_text(value)}" for key, value in params.items()), params)


def grid_groups(spec: SweepSpec) -> list[Group]:
    """Every combination of the grid's values, in the order given (last key varying fastest)."""
    axes = [[(axis.key, v) for v in axis.values or []] for axis in spec.grid]
    return [make_group(spec, dict(combo)) for combo in itertools.product(*axes)]


def run_name(group: Group, seed: int) -> str:
    """The run directory's name: ``<group>-seed<k>``."""
    return f"{group.name}-seed{seed}"


def run_dir(out: str | os.PathLike, group: Group, seed: int) -> Path:
    """``OUT/runs/<group>-seed<k>``."""
    return Path(out) / RUNS_DIR / run_name(group, seed)


def run_overrides(spec: SweepSpec, group: Group, seed: int) -> list[str]:
    """The overrides that make the run's config from the base config."""
    return [*spec.overrides, *group.overrides(), f"seed={seed}"]


def read_run_config(path: str | os.PathLike) -> dict[str, Any] | None:
    """A run directory's ``config.yaml`` as plain data (None when it has none)."""
    file = Path(path) / CONFIG_FILE
    return yaml.safe_load(file.read_text()) if file.is_file() else None


def config_value(config: dict[str, Any], key: str) -> Any:
    """The value at a dotted key of a config mapping (``KeyError`` naming the key when absent)."""
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"the run's config has no key {key!r}")
        node = node[part]
    return node


def run_state(path: str | os.PathLike) -> RunState:
    """How far the run in ``path`` got (module docstring)."""
    config = read_run_config(path)
    checkpoints = checkpoint_paths(path)
    if config is None or not checkpoints:
        return "new"
    done = checkpoint_step(checkpoints[-1]) >= int(config_value(config, "train.total_steps"))
    return "finished" if done and evaluated_at_checkpoint(path) else "started"


def runs_on_disk(out: str | os.PathLike) -> list[Path]:
    """The sweep's run directories (those holding a ``config.yaml``), by name."""
    root = Path(out) / RUNS_DIR
    return sorted(p for p in root.iterdir() if (p / CONFIG_FILE).is_file()) if root.is_dir() else []


def error_file(out: str | os.PathLike, name: str) -> Path:
    """Where a failed run's traceback is kept: ``OUT/errors/<run>.txt``."""
    return Path(out) / ERRORS_DIR / f"{name}.txt"


def record_error(out: str | os.PathLike, name: str, text: str) -> Path:
    """Keep the traceback of the run ``name`` (the summary names it; a retry clears it)."""
    return atomic_write_bytes(error_file(out, name), text)


def clear_error(out: str | os.PathLike, name: str) -> None:
    """Forget the run's earlier error: it has finished since."""
    error_file(out, name).unlink(missing_ok=True)


def last_error_line(out: str | os.PathLike, name: str) -> str | None:
    """The last line of the run's recorded traceback (``Type: message``), or None."""
    file = error_file(out, name)
    if not file.is_file():
        return None
    lines = [line for line in file.read_text().splitlines() if line.strip()]
    return lines[-1].strip() if lines else None
