"""The Tune trainable: train one group's run directories, or continue them, with ``metarl train``'s code.

A Tune trial is one group on one seed (a grid) or one group on every seed of the sweep (Optuna
optimises the mean over seeds). For each of its runs, :func:`train_run` looks at the run
directory: a finished run is left as it is; a run with a checkpoint is resumed from it exactly as
``metarl train --resume`` does (``metarl.runner.runs.resume_run``, ``metarl.runner.train.train``);
any other starts from step 0. So a trial that Tune retries after its worker died, a trial
relaunched by ``metarl sweep --resume``, and a trial that never stopped all end in the same
run directory. The trial reports the sweep's metric (mean over its runs so far) to Tune.
"""

from __future__ import annotations

import time
import traceback
from pathlib import Path
from typing import Any

from metarl.common.config import load_config
from metarl.report.adaptation import load_adaptation
from metarl.report.aggregate import metric_value
from metarl.runner.lock import RunLockedError, run_lock
from metarl.runner.runs import checkpoint_paths, make_run_dir, resume_run
from metarl.runner.train import train
from metarl.sweep.spec import SweepSpec, load_spec
from metarl.sweep.trials import (
    Group,
    clear_error,
    make_group,
    record_error,
    run_dir,
    run_name,
    run_overrides,
    run_state,
)

__all__ = ["train_run", "trial_group", "trial_seeds", "trainable"]

#: How long a trial waits for another process to release a run directory it needs.
LOCK_WAIT_SECONDS = 600.0


def train_run(config_path: Path, overrides: list[str], path: Path, wait: float = LOCK_WAIT_SECONDS) -> None:
    """Bring the run in ``path`` to its end: nothing when finished, resume from its newest
    checkpoint when it has one, else train ``load_config(config_path, overrides)`` from step 0.

    While another process trains the run (the worker of a killed sweep not yet ended by Ray, or
    Optuna proposing a configuration twice), wait up to ``wait`` seconds for it, then continue
    from where it left off (``RunLockedError`` after that)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with run_lock(path):
                return _train_locked(config_path, overrides, path)
        except RunLockedError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(1.0)


def _train_locked(config_path: Path, overrides: list[str], path: Path) -> None:
    """``train_run``'s work, under the run's lock."""
    if run_state(path) == "finished":
        return
    if checkpoint_paths(path):
        cfg, checkpoint = resume_run(path)
        # A finished run whose final evaluation was lost gets it redone by train itself.
        train(cfg, path, resume=True, checkpoint=checkpoint, quiet=True)
        return
    cfg = load_config(config_path, overrides)
    make_run_dir(cfg, path)  # a run killed before its first checkpoint restarts in place
    train(cfg, path, quiet=True)


def trial_group(spec: SweepSpec, config: dict[str, Any]) -> Group:
    """The group of a Tune trial's config (a grid point ``{"trial": {...}}`` or Optuna's sample)."""
    point = config.get("trial", config)
    return make_group(spec, point.get("params", point))


def trial_seeds(spec: SweepSpec, config: dict[str, Any]) -> list[int]:
    """The seeds a Tune trial trains: its grid point's one, or every seed of the sweep (Optuna)."""
    point = config.get("trial")
    return [int(point["seed"])] if point is not None else list(spec.seeds)


def trainable(config: dict[str, Any], out: str) -> None:
    """The Tune function trainable of a sweep in ``out``: train the trial's runs one after the
    other and report ``{metric: mean over its runs so far, "runs": count}`` after each. A run that
    raises leaves its traceback in ``OUT/errors/<run>.txt`` and fails the trial (Tune retries it
    up to ``max_failures`` times, each retry resuming from the run's newest checkpoint)."""
    from ray import tune

    spec = load_spec(out)
    group = trial_group(spec, config)
    values = []
    for seed in trial_seeds(spec, config):
        name, path = run_name(group, seed), run_dir(out, group, seed)
        try:
            train_run(Path(out) / spec.config, run_overrides(spec, group, seed), path)
            values.append(metric_value(load_adaptation(path), spec.metric))
        except Exception:
            record_error(out, name, traceback.format_exc())
            raise
        clear_error(out, name)
        tune.report({spec.metric: sum(values) / len(values), "runs": len(values)})
