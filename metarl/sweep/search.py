"""Optuna search (``--search optuna``), warm-started from the run directories already on disk.

The search space is one Optuna distribution per ``--grid`` axis: a list of values is categorical,
``LOW..HIGH`` uniform (integers when both ends are), ``LOW..HIGH:log`` log-uniform. A sweep
resumed with ``--resume`` does not restore Tune's pickled searcher state: it rebuilds the study
from the runs themselves. Each group whose runs all finished is told to Optuna as a completed
trial (its parameters, read from the runs' ``config.yaml``, and its mean metric over seeds), so the
sampler goes on from everything learnt; each group started but unfinished (killed, or failed) is
enqueued, so Optuna proposes it again first and its runs resume from their checkpoints. Only
``trials`` minus the completed groups are launched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from metarl.report.adaptation import load_adaptation
from metarl.report.aggregate import metric_value
from metarl.sweep.spec import Axis, SweepSpec
from metarl.sweep.trials import Group, config_value, make_group, read_run_config, run_dir, run_state, runs_on_disk

__all__ = ["SearchPlan", "optuna_space", "plan_search"]

STUDY_NAME = "metarl-sweep"


def _distribution(axis: Axis) -> Any:
    import optuna

    if axis.values is not None:
        return optuna.distributions.CategoricalDistribution(list(axis.values))
    if axis.integer:
        return optuna.distributions.IntDistribution(int(axis.low), int(axis.high), log=axis.log)
    return optuna.distributions.FloatDistribution(float(axis.low), float(axis.high), log=axis.log)


def optuna_space(spec: SweepSpec) -> dict[str, Any]:
    """The Optuna distributions of the sweep's axes, by config key."""
    return {axis.key: _distribution(axis) for axis in spec.grid}


def groups_on_disk(spec: SweepSpec, out: str | os.PathLike) -> list[Group]:
    """The groups that have a run directory in ``OUT/runs``, in order of their names."""
    found: dict[str, Group] = {}
    for path in runs_on_disk(out):
        config = read_run_config(path) or {}
        group = make_group(spec, {key: config_value(config, key) for key in spec.keys})
        found.setdefault(group.name, group)
    return [found[name] for name in sorted(found)]


def group_finished(spec: SweepSpec, out: str | os.PathLike, group: Group) -> bool:
    """Whether every seed of ``group`` has a finished run."""
    return all(run_state(run_dir(out, group, seed)) == "finished" for seed in spec.seeds)


def group_metric(spec: SweepSpec, out: str | os.PathLike, group: Group) -> float:
    """The group's metric: the mean over its seeds' runs."""
    values = [metric_value(load_adaptation(run_dir(out, group, s)), spec.metric) for s in spec.seeds]
    return sum(values) / len(values)


@dataclass
class SearchPlan:
    """What to launch: Optuna's searcher (warm-started), how many trials, and the groups kept."""

    searcher: Any
    launch: int
    finished: list[Group]
    resumed: list[Group]


def plan_search(spec: SweepSpec, out: str | os.PathLike) -> SearchPlan:
    """The searcher of an Optuna sweep in ``out``, told about the finished groups on disk and
    with the unfinished ones enqueued (module docstring)."""
    import optuna
    from ray.tune.search.optuna import OptunaSearch

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    space = optuna_space(spec)
    storage = optuna.storages.InMemoryStorage()
    direction = "maximize" if spec.mode == "max" else "minimize"
    study = optuna.create_study(storage=storage, study_name=STUDY_NAME, direction=direction)
    finished, resumed = [], []
    for group in groups_on_disk(spec, out):
        if group_finished(spec, out, group):
            value = group_metric(spec, out, group)
            study.add_trial(optuna.trial.create_trial(params=group.params, distributions=space, value=value))
            finished.append(group)
        else:
            study.enqueue_trial(group.params)
            resumed.append(group)
    sampler = optuna.samplers.TPESampler(seed=spec.search_seed + len(finished))
    searcher = OptunaSearch(
        space=space, metric=spec.metric, mode=spec.mode, sampler=sampler, study_name=STUDY_NAME, storage=storage
    )
    return SearchPlan(searcher, max(0, int(spec.trials or 0) - len(finished)), finished, resumed)
