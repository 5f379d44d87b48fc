"""Meta-World's evaluation protocol, computed from an adaptation result that records success.

The rollouts are the adaptation curve's: on each held-out task (a class and a goal), ``K``
consecutive episodes, the first ``K - E`` to adapt and the last ``E`` (``evaluation_episodes``)
to evaluate. An episode succeeds when ``info["success"]`` is 1 at any step (Meta-World's rule;
its ``evaluation`` ends an episode at the first success, which gives the same success count).
Reported:

- per class: the success rate over its tasks' evaluation episodes, with a 95% Wilson interval
  (episodes counted as independent trials), and the mean return of those episodes (the full
  500-step return: unlike Meta-World we do not cut an episode at its first success);
- overall: the mean of the class rates (Meta-World averages per class), with a 95% stratified
  bootstrap interval (tasks resampled within their class, 2000 resamples, fixed seed; with one
  class, that class's Wilson interval);
- per episode index ``1..K``: the class-averaged success rate and its bootstrap interval (the
  success curve, success on the y-axis; ``metarl plot`` overlays runs).

Files, beside the adaptation curve's in the run's ``eval`` folder: ``success.csv`` (one row per
class: ``class, tasks, episodes, successes, success_rate, ci_low, ci_high, mean_return``, then
an ``overall`` row), ``success.json`` (the same, the per-episode curve and the protocol's
episode counts) and ``success.png`` (the curve).
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from scipy import stats

from metarl.common.files import atomic_write_bytes
from metarl.report.plotting import figure_png, format_steps
from metarl.report.results import CONFIDENCE, AdaptationResult

#: Bootstrap resamples of the class-averaged intervals (fixed seed: the same files every time).
RESAMPLES = 2000
_SEED = 0


@dataclass(frozen=True)
class ClassSuccess:
    """One row of the protocol: a class (or ``"overall"``) and its evaluation episodes."""

    name: str
    tasks: int
    episodes: int
    successes: int
    success_rate: float
    ci_low: float
    ci_high: float
    mean_return: float


@dataclass(frozen=True)
class SuccessReport:
    """Meta-World's protocol on one result: ``classes`` (sorted by name), ``overall`` (mean of
    the class rates) and ``curve`` (per episode index: class-averaged rate, low, high)."""

    env_id: str
    split: str
    agent: str
    step: int | None
    adaptation_episodes: int
    evaluation_episodes: int
    classes: list[ClassSuccess]
    overall: ClassSuccess
    curve: list[tuple[int, float, float, float]]


def wilson(successes: int, trials: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (``(nan, nan)`` without trials)."""
    if trials == 0:
        return float("nan"), float("nan")
    z = float(stats.norm.ppf((1 + confidence) / 2))
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * np.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def class_averaged(values: np.ndarray, groups: Sequence[str], confidence: float = CONFIDENCE) -> np.ndarray:
    """Mean over classes of the per-class mean of ``values`` (``(n_tasks, m)``), with a stratified
    bootstrap interval: ``(3, m)`` rows mean, low, high."""
    names = sorted(set(groups))
    index = [np.flatnonzero(np.asarray(groups) == g) for g in names]
    mean = np.mean([values[i].mean(axis=0) for i in index], axis=0)
    rng = np.random.default_rng(_SEED)
    boot = np.zeros((RESAMPLES, values.shape[1]))
    for i in index:  # one draw per class of its tasks, with replacement
        picks = rng.integers(0, len(i), size=(RESAMPLES, len(i)))
        boot += values[i][picks].mean(axis=1)
    boot /= len(index)
    alpha = (1 - confidence) / 2
    low, high = np.quantile(boot, [alpha, 1 - alpha], axis=0)
    return np.stack([mean, low, high])


def success_report(result: AdaptationResult) -> SuccessReport:
    """Meta-World's protocol on ``result`` (which must hold ``successes``, ``groups`` and
    ``evaluation_episodes``; ``evaluate_adaptation`` records them on Meta-World families)."""
    if result.successes is None or result.groups is None or not result.evaluation_episodes:
        raise ValueError(
            f"the result on {result.env_id} records no success per class and evaluation phase "
            "(successes, groups, evaluation_episodes); only families reporting success (Meta-World) have them"
        )
    e = result.evaluation_episodes
    success, returns = result.successes[:, -e:].astype(np.float64), result.returns[:, -e:]
    groups = np.asarray(result.groups)
    rows = []
    for name in sorted(set(result.groups)):
        mask = groups == name
        k, n = int(success[mask].sum()), int(success[mask].size)
        rows.append(ClassSuccess(name, int(mask.sum()), n, k, k / n, *wilson(k, n), float(returns[mask].mean())))
    mean, low, high = class_averaged(success.mean(axis=1, keepdims=True), result.groups)[:, 0]
    if len(rows) == 1:  # one class (ML1): its Wilson interval (a bootstrap of all-equal outcomes is a point)
        low, high = rows[0].ci_low, rows[0].ci_high
    overall = ClassSuccess("overall", len(result.tasks), int(success.size), int(success.sum()), float(mean),
                           float(low), float(high), float(np.mean([r.mean_return for r in rows])))  # fmt: skip
    per_episode = class_averaged(result.successes.astype(np.float64), result.groups)
    curve = [(k + 1, *map(float, per_episode[:, k])) for k in range(result.episodes)]
    return SuccessReport(result.env_id, result.split, result.agent, result.step, result.episodes - e, e,
                         rows, overall, curve)  # fmt: skip


def write_success(result: AdaptationResult, folder: str | os.PathLike) -> SuccessReport:
    """Write ``success.{csv,json,png}`` (module docstring) into ``folder``; returns the report."""
    report = success_report(result)
    folder = Path(folder)
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["class", *list(asdict(report.overall))[1:]])
    for row in [*report.classes, report.overall]:
        w.writerow(asdict(row).values())
    atomic_write_bytes(folder / "success.csv", out.getvalue())
    meta = {
        "env": report.env_id, "split": report.split, "agent": report.agent, "step": report.step,
        "adaptation_episodes": report.adaptation_episodes, "evaluation_episodes": report.evaluation_episodes,
        "confidence": CONFIDENCE, "overall": asdict(report.overall), "classes": [asdict(r) for r in report.classes],
        "per_episode": [{"episode": k, "success_rate": m, "ci_low": lo, "ci_high": hi} for k, m, lo, hi in report.curve],
    }  # fmt: skip
    atomic_write_bytes(folder / "success.json", json.dumps(meta, indent=2) + "\n")
    atomic_write_bytes(folder / "success.png", figure_png(success_figure([report])))
    return report


def success_figure(reports: Sequence[SuccessReport], title: str | None = None) -> Figure:
    """Success rate (class-averaged) against episode index, one line per report with its 95%
    band; the evaluation phase shaded."""
    figure = Figure(figsize=(6.4, 4.2))
    ax = figure.add_subplot()
    for r in reports:
        k, mean, low, high = (np.array(v) for v in zip(*r.curve))
        steps = "" if r.step is None else f", {format_steps(r.step)} steps"
        line = ax.plot(k, mean, marker="o", label=f"{r.agent}{steps}: {r.overall.success_rate:.1%}")[0]
        ax.fill_between(k, low, high, alpha=0.2, color=line.get_color())
    first = reports[0]
    ax.axvspan(first.adaptation_episodes + 0.5, first.adaptation_episodes + first.evaluation_episodes + 0.5,
               color="grey", alpha=0.12, label="evaluation episodes")  # fmt: skip
    ax.set_xlabel("episode on the task")
    ax.set_ylabel("success rate (mean over classes)")
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    n = len(first.classes)
    ax.set_title(title or f"{first.env_id}, {first.split} split: {n} class{'es' * (n != 1)}, {first.overall.tasks} tasks")
    figure.tight_layout()
    return figure


def plot_success_curves(results: Sequence[AdaptationResult], out: str | os.PathLike) -> Path:
    """Overlay the success curves of several results in one PNG at ``out``; returns ``out``."""
    figure = success_figure([success_report(r) for r in results])
    return atomic_write_bytes(out, figure_png(figure))
