"""Results across runs: groups of runs that differ only in their seed, and honest statistics over them.

Runs are grouped by their whole ``config.yaml`` but the seed (and the keys that only say how a
run logs and checkpoints: :data:`BOOKKEEPING_KEYS`). Per group, over its seeds:

- the adaptation curve: per episode index, the mean over seeds of each seed's mean return over
  the held-out tasks, with a Student-t 95% interval across seeds (``metarl.report.results.mean_ci``:
  the interval measures the spread between runs, not between tasks);
- the interquartile mean (IQM) of the final episode's returns, pooled over seeds and tasks (a
  ``(seeds, tasks)`` score matrix), with a 95% stratified-bootstrap interval: the seeds are
  resampled with replacement within each task, independently across tasks (``scipy.stats.bootstrap``
  with one sample per task, percentile method), as rliable (Agarwal et al. 2021) computes it;
  undefined (NaN) for a single seed;
- on families that report success (Meta-World), the success rate of the evaluation episodes
  (``metarl.report.success``) with a t-interval across seeds, and the success curve likewise; and
  the Meta-World paper's statistic, each seed's best success rate over its evaluations (periodic
  and final, read from its TensorBoard events), averaged over seeds;
- a *metric* per run (:data:`METRICS`), averaged over seeds: what ``metarl sweep`` optimises and ranks by.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from scipy import stats

from metarl.report.adaptation import load_adaptation
from metarl.report.curves import success_history
from metarl.report.results import CONFIDENCE, EVAL_DIR, AdaptationResult, mean_ci

#: Bootstrap resamples of the IQM interval (fixed seed: the same numbers every time).
RESAMPLES = 10_000
_SEED = 0
#: Config keys that change how a run logs and checkpoints, not what it learns: left out of grouping.
BOOKKEEPING_KEYS = frozenset(
    {"seed", "train.log_every", "train.checkpoint_every", "train.keep_checkpoints", "train.threads", "python_path"}
)
#: Keys of the training budget: ``config.yaml`` holds the last session's values (a resumed run may
#: raise ``total_steps`` or stop at another ``max_minutes``), so runs are grouped by the env step
#: of their final evaluation (``env_steps``: what they trained), not by these.
BUDGET_KEYS = frozenset({"train.total_steps", "train.max_minutes"})
#: Metrics of a run, computed from its final evaluation (``eval/adaptation.json``/``.csv``).
METRICS = {
    "final_return": "mean return over tasks of the last episode of the trial",
    "mean_return": "mean return over tasks and episodes",
    "return_ep<k>": "mean return over tasks of episode k (1-based)",
    "success_rate": "success rate of the evaluation episodes, mean over classes (families reporting success)",
}
_EPISODE_METRIC = re.compile(r"^return_ep(\d+)$")


def check_metric(name: str, episodes: int, has_success: bool) -> None:
    """``ValueError`` unless a run evaluated on ``episodes`` episodes (of a family that reports
    success or not) produces the metric ``name``; the message lists those it produces."""
    allowed = ["final_return", "mean_return", f"return_ep1..return_ep{episodes}"] + ["success_rate"] * has_success
    match = _EPISODE_METRIC.match(name)
    if match is not None and 1 <= int(match.group(1)) <= episodes:
        return
    if name in ("final_return", "mean_return") or (name == "success_rate" and has_success):
        return
    why = " (the family does not report success)" if name == "success_rate" else ""
    raise ValueError(f"--metric {name!r} is not produced by these runs{why}; allowed: {', '.join(allowed)}")


def metric_value(result: AdaptationResult, name: str) -> float:
    """The metric ``name`` (:data:`METRICS`) of one evaluated run."""
    check_metric(name, result.episodes, result.successes is not None and result.evaluation_episodes)
    if name == "success_rate":
        from metarl.report.success import success_report

        return float(success_report(result).overall.success_rate)
    if name == "mean_return":
        return float(result.returns.mean())
    match = _EPISODE_METRIC.match(name)
    column = int(match.group(1)) - 1 if match else result.episodes - 1
    return float(result.returns[:, column].mean())


def iqm(values: np.ndarray, axis: int = -1) -> np.ndarray:
    """The interquartile mean: the mean of the middle 50% of the values (25% cut at each end)."""
    return stats.trim_mean(values, 0.25, axis=axis)


def iqm_interval(
    scores: np.ndarray, confidence: float = CONFIDENCE, resamples: int = RESAMPLES, seed: int = _SEED
) -> tuple[float, float, float]:
    """IQM of a ``(runs, tasks)`` score matrix and its stratified-bootstrap percentile interval:
    ``(iqm, low, high)``; the interval is NaN with fewer than two runs."""
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty (runs, tasks) matrix, got shape {scores.shape}")
    point = float(iqm(scores.reshape(-1)))
    if scores.shape[0] < 2:
        return point, math.nan, math.nan

    def statistic(*columns: np.ndarray, axis: int = -1) -> np.ndarray:
        pooled = np.stack([np.moveaxis(c, axis, -1) for c in columns], axis=-1)  # (..., runs, tasks)
        return iqm(pooled.reshape(*pooled.shape[:-2], -1), axis=-1)

    # One sample per task: scipy resamples each independently, i.e. runs within tasks (stratified).
    result = stats.bootstrap(
        [scores[:, j] for j in range(scores.shape[1])], statistic, n_resamples=resamples, paired=False,
        vectorized=True, confidence_level=confidence, method="percentile", rng=np.random.default_rng(seed),
    )  # fmt: skip
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


# --- runs and groups ---------------------------------------------------------------------------


def find_runs(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Run directories (holding ``config.yaml``) named by ``paths``: a run directory itself, a sweep
    directory (its ``runs/``), or any folder of run directories; sorted, each once."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if (path / "config.yaml").is_file():
            found.append(path)
            continue
        folder = path / "runs" if (path / "runs").is_dir() else path
        if not folder.is_dir():
            raise FileNotFoundError(f"{str(given)!r} is not a run directory, a sweep directory or a folder of runs")
        found += sorted(p for p in folder.iterdir() if (p / "config.yaml").is_file())
    unique = list(dict.fromkeys(p.resolve() for p in found))
    if not unique:
        raise FileNotFoundError(f"no run directories (with a config.yaml) in {', '.join(map(str, paths))}")
    return unique


def is_runs_folder(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a sweep directory or a folder of runs, not one run (or its ``eval`` folder)."""
    path = Path(path)
    return path.is_dir() and not (path / "config.yaml").is_file() and not (path / "adaptation.json").is_file()


def flat_config(config: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config mapping as ``{dotted key: value}``."""
    if not isinstance(config, dict):
        return {prefix: config}
    out: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}.{key}" if prefix else str(key)
        out.update(flat_config(value, dotted) if isinstance(value, dict) and value else {dotted: value})
    return out


@dataclass
class Run:
    """One run directory: its flat config and its final evaluation (None when not evaluated); on
    families that report success, ``logged_success``: the overall success rate its evaluations logged
    up to the final one, by env step (``metarl.report.curves.success_history``)."""

    path: Path
    config: dict[str, Any]
    result: AdaptationResult | None
    logged_success: dict[int, float] = field(default_factory=dict)

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))


def read_run(path: str | os.PathLike) -> Run:
    """The run in ``path``: config read with a safe YAML loader, evaluation if written."""
    path = Path(path)
    config = flat_config(yaml.safe_load((path / "config.yaml").read_text()) or {})
    evaluated = (path / EVAL_DIR / "adaptation.json").is_file()
    run = Run(path, config, load_adaptation(path) if evaluated else None)
    if run.result is not None and _has_success(run.result):
        last = run.result.step
        run.logged_success = {k: v for k, v in success_history(path).items() if last is None or k <= last}
    return run


def _has_success(result: AdaptationResult) -> bool:
    return result.successes is not None and result.groups is not None and bool(result.evaluation_episodes)


@dataclass
class Group:
    """Runs whose configs are equal but for the seed; ``params`` are the keys in which the group
    differs from the other groups (its label), ``runs`` evaluated ones, ``unevaluated`` the rest."""

    label: str
    params: dict[str, Any]
    runs: list[Run]
    unevaluated: list[Run]

    @property
    def results(self) -> list[AdaptationResult]:
        return [r.result for r in self.runs if r.result is not None]


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _short(value: Any) -> str:
    """A value in a label: floats to 4 significant digits (a sampled 0.0012520653814999472 as 0.001252)."""
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _grouping_config(run: Run) -> dict[str, Any]:
    """What a run learned with and for how long: its config but :data:`BOOKKEEPING_KEYS` and
    :data:`BUDGET_KEYS`, plus ``env_steps``, the step of its final evaluation (``train.total_steps``
    when it has none)."""
    kept = {k: v for k, v in run.config.items() if k not in BOOKKEEPING_KEYS | BUDGET_KEYS}
    step = run.result.step if run.result is not None else None
    kept["env_steps"] = step if step is not None else run.config.get("train.total_steps")
    return kept


def group_runs(runs: Sequence[Run]) -> list[Group]:
    """Group ``runs`` by config but the seed (``_grouping_config``), in order of first appearance;
    each group is labelled with the keys it has whose values differ between groups (keys of
    another agent's section are left out of its label)."""
    by_config: dict[str, tuple[dict[str, Any], list[Run]]] = {}
    for run in runs:
        config = _grouping_config(run)
        by_config.setdefault(_key(config), (config, []))[1].append(run)
    configs = [config for config, _ in by_config.values()]
    keys = sorted({k for c in configs for k in c})
    varying = [k for k in keys if len({_key(c.get(k)) for c in configs}) > 1]
    groups = []
    for config, members in by_config.values():
        params = {k: config[k] for k in varying if k in config}
        first = members[0].config
        label = ", ".join(f"{k}={_short(v)}" for k, v in params.items()) or f"{first.get('agent')} on {first.get('env.id')}"
        members = sorted(members, key=lambda r: r.seed)
        groups.append(Group(label, params, [r for r in members if r.result], [r for r in members if not r.result]))
    return groups


@dataclass(frozen=True)
class Interval:
    """A mean (or IQM) and its 95% interval (NaN where undefined)."""

    value: float
    low: float
    high: float


@dataclass
class GroupStats:
    """The statistics of one group over its evaluated seeds (module docstring)."""

    group: Group
    seeds: list[int]
    steps: list[int]
    curve: np.ndarray  # (3, K): mean, low, high per episode index
    final: Interval  # final episode's return: mean over seeds, t-interval
    iqm: Interval  # final episode's return: IQM over seeds x tasks, stratified bootstrap
    first: float  # first episode's return, mean over seeds
    success: Interval | None = None
    success_curve: np.ndarray | None = None  # (3, K)
    best_success: Interval | None = None  # each seed's best evaluation: mean and t-interval over seeds
    metric: float | None = None


def _interval(values: np.ndarray, bounds: tuple[float, float] = (-np.inf, np.inf)) -> Interval:
    """Mean and t-interval across seeds, the interval clipped to ``bounds`` (a rate's [0, 1]: with
    few seeds a t-interval of rates reaches below 0)."""
    mean, low, high = mean_ci(np.asarray(values, dtype=np.float64))
    return Interval(float(mean), float(max(low, bounds[0])), float(min(high, bounds[1])))


def group_stats(group: Group, metric: str | None = None) -> GroupStats | None:
    """The statistics of ``group`` (None when none of its runs is evaluated)."""
    results = group.results
    if not results:
        return None
    episodes = {r.episodes for r in results}
    tasks = {len(r.tasks) for r in results}
    if len(episodes) != 1 or len(tasks) != 1:
        raise ValueError(
            f"group {group.label!r}: its runs were evaluated on {sorted(tasks)} tasks and {sorted(episodes)} episodes; "
            "seeds of one group must share the task set and the episodes (re-evaluate with metarl evaluate)"
        )
    per_run = np.stack([r.returns.mean(axis=0) for r in results])  # (seeds, K)
    curve = np.stack(mean_ci(per_run))
    scores = np.stack([r.returns[:, -1] for r in results])  # (seeds, tasks)
    stats_ = GroupStats(
        group, [r.seed for r in group.runs], sorted({r.step for r in results if r.step is not None}),
        curve, _interval(per_run[:, -1]), Interval(*iqm_interval(scores)), float(per_run[:, 0].mean()),
    )  # fmt: skip
    if all(_has_success(r) for r in results):
        from metarl.report.success import success_report

        reports = [success_report(r) for r in results]
        stats_.success = _interval(np.array([rep.overall.success_rate for rep in reports]), (0.0, 1.0))
        stats_.success_curve = np.stack(mean_ci(np.array([[c[1] for c in rep.curve] for rep in reports])))
        stats_.success_curve[1:] = stats_.success_curve[1:].clip(0.0, 1.0)
        # The paper's statistic: each seed's best evaluation, the final one included.
        best = [max([rep.overall.success_rate, *r.logged_success.values()]) for rep, r in zip(reports, group.runs)]
        stats_.best_success = _interval(np.array(best), (0.0, 1.0))
    if metric is not None:
        stats_.metric = float(np.mean([metric_value(r, metric) for r in results]))
    return stats_
