"""``metarl report DIR``: the table, files and figure of runs grouped across seeds (``metarl.report.aggregate``).

Written into ``DIR/report/`` (or ``--out``):

- ``summary.md``: the Markdown table printed by the command, one row per group: its seeds, env
  steps, the first and the final episode's return (mean over seeds with a 95% t-interval across
  seeds), the IQM of the final episode's return over seeds x tasks with its 95%
  stratified-bootstrap interval, the success rate on Meta-World, and the sweep's metric; then the
  best group by that metric and, for an Optuna search, each hyperparameter's importance
  (``optuna.importance.get_param_importances``, PED-ANOVA by default); runs not evaluated yet are listed.
- ``summary.csv``: the same numbers, one row per group, one column per swept key.
- ``curves.csv``: per group and episode index, the mean return over seeds and its interval.
- ``adaptation.png``: one curve per group, mean over seeds with its 95% band across seeds;
  ``success.png`` on Meta-World (success rate per episode index, likewise).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from metarl.common.files import atomic_write_bytes
from metarl.report.aggregate import GroupStats, Interval, find_runs, group_runs, group_stats, read_run
from metarl.report.plotting import Curve, adaptation_figure, figure_png, format_steps

__all__ = ["Report", "build_report", "markdown", "write_report"]

REPORT_DIR = "report"


@dataclass
class Report:
    """The groups' statistics, the metric ranked by, the best group and (Optuna) the importances."""

    groups: list[GroupStats]
    metric: str | None = None
    mode: str = "max"
    search: str | None = None
    best: GroupStats | None = None
    importances: dict[str, float] | None = None
    importance_note: str | None = None
    unevaluated: list[str] = field(default_factory=list)


def _sweep_settings(paths: Sequence[str | os.PathLike]) -> dict[str, Any]:
    """The search settings of a sweep directory's ``sweep.yaml`` (read as plain data), else none."""
    for path in paths:
        file = Path(path) / "sweep.yaml"
        if file.is_file():
            data = yaml.safe_load(file.read_text()) or {}
            return {k: data.get(k) for k in ("metric", "mode", "search")}
    return {}


def build_report(paths: Sequence[str | os.PathLike], metric: str | None = None, mode: str | None = None) -> Report:
    """Group the runs under ``paths`` (run, sweep or runs directories) and compute their statistics.
    ``metric``/``mode`` default to the sweep's (``sweep.yaml``), else ``final_return``/``max``."""
    settings = _sweep_settings(paths)
    metric = metric or settings.get("metric") or "final_return"
    mode = mode or settings.get("mode") or "max"
    groups = group_runs([read_run(p) for p in find_runs(paths)])
    stats = [s for g in groups if (s := group_stats(g, metric)) is not None]
    report = Report(stats, metric, mode, settings.get("search"))
    report.unevaluated = [r.path.name for g in groups for r in g.unevaluated]
    if len(stats) > 1:
        sign = 1 if mode == "max" else -1
        report.best = max(stats, key=lambda s: sign * s.metric)
    if report.search == "optuna":
        report.importances, report.importance_note = importances(stats, mode)
    return report


def importances(stats: Sequence[GroupStats], mode: str) -> tuple[dict[str, float] | None, str | None]:
    """Each swept key's importance for the metric (Optuna's evaluator on a study of the groups),
    or a note saying why there is none."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    keys = list(stats[0].group.params) if stats else []
    if len(stats) < 2 or not keys:
        return None, "importances need at least two evaluated configurations"
    study = optuna.create_study(direction="maximize" if mode == "max" else "minimize")
    space = {}
    for key in keys:
        values = [s.group.params.get(key) for s in stats]
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
        if numeric and all(isinstance(v, int) for v in values):
            space[key] = optuna.distributions.IntDistribution(min(values), max(values))
        elif numeric:
            space[key] = optuna.distributions.FloatDistribution(min(values), max(values))
        else:
            space[key] = optuna.distributions.CategoricalDistribution(sorted({str(v) for v in values}))
    for s in stats:
        params = {k: (v if not isinstance(space[k], optuna.distributions.CategoricalDistribution) else str(v))
                  for k, v in ((k, s.group.params.get(k)) for k in keys)}  # fmt: skip
        study.add_trial(optuna.trial.create_trial(params=params, distributions=space, value=s.metric))
    try:
        return dict(optuna.importance.get_param_importances(study)), None
    except (RuntimeError, ValueError) as e:
        return None, f"importances not computed: {e}"


# --- text ----------------------------------------------------------------------------------------


def _num(x: float) -> str:
    return "n/a" if x is None or not math.isfinite(x) else f"{x:.4g}"


def _ci(interval: Interval, percent: bool = False) -> str:
    f = (lambda x: "n/a" if not math.isfinite(x) else f"{100 * x:.1f}%") if percent else _num
    if not math.isfinite(interval.low):
        return f(interval.value)
    return f"{f(interval.value)} [{f(interval.low)}, {f(interval.high)}]"


def _steps(s: GroupStats) -> str:
    return "/".join(format_steps(x) for x in s.steps) or "?"


def _rows(report: Report) -> tuple[list[str], list[list[str]]]:
    episodes = report.groups[0].curve.shape[1] if report.groups else 0
    header = ["group", "seeds", "env steps", "episode 1", f"episode {episodes} (95% CI)", "IQM (95% CI)"]
    success = any(s.success is not None for s in report.groups)
    header += ["success rate (95% CI)", "best success per seed (95% CI)"] * success + [report.metric or "metric"]
    rows = []
    for s in report.groups:
        row = [s.group.label, f"{len(s.seeds)}: {', '.join(map(str, s.seeds))}", _steps(s), _num(s.first), _ci(s.final), _ci(s.iqm)]
        row += [_ci(x, percent=True) if x else "n/a" for x in (s.success, s.best_success)] * success + [_num(s.metric)]
        rows.append(row)
    return header, rows


def markdown(report: Report) -> str:
    """The report as Markdown: the table, the best group, importances and runs not evaluated."""
    header, rows = _rows(report)
    escape = lambda c: c.replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    lines.append("")
    lines.append(
        "Episode columns: return per episode of the trial, mean over seeds with a 95% Student-t interval across seeds. "
        "IQM: interquartile mean of the final episode's return over seeds x held-out tasks, 95% stratified-bootstrap "
        "interval (seeds resampled within each task)."
    )
    if any(s.best_success is not None for s in report.groups):
        lines += ["", "Success rate: of the final evaluation's evaluation episodes, mean over seeds, 95% t-interval across "
                  "seeds clipped to [0, 1]. Best success per seed: each seed's best evaluation (periodic or final), "
                  "averaged over seeds, the Meta-World paper's statistic."]  # fmt: skip
    if report.best is not None:
        lines += ["", f"Best by {report.metric} ({report.mode}): **{report.best.group.label}** ({_num(report.best.metric)})"]
    if report.importances:
        lines += ["", f"Hyperparameter importance for {report.metric} (optuna.importance):", ""]
        lines += ["| hyperparameter | importance |", "|---|---|"]
        lines += [f"| {k} | {v:.3f} |" for k, v in report.importances.items()]
    elif report.importance_note:
        lines += ["", report.importance_note]
    if report.unevaluated:
        lines += ["", f"Not evaluated yet (left out): {', '.join(report.unevaluated)}"]
    return "\n".join(lines) + "\n"


def _csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    keys = list(dict.fromkeys(k for s in report.groups for k in s.group.params))  # groups of other agents add theirs
    names = ["final_return", "iqm", "success_rate", "best_success"]
    w.writerow(["group", *keys, "seeds", "env_steps", "first_return", *(f"{n}{p}" for n in names for p in ("", "_ci_low", "_ci_high")), report.metric])
    for s in report.groups:
        cells = [s.group.label, *(s.group.params.get(k, "") for k in keys), " ".join(map(str, s.seeds)), " ".join(map(str, s.steps))]
        cells.append(repr(s.first))
        for interval in (s.final, s.iqm, s.success, s.best_success):
            cells += [repr(x) for x in (interval.value, interval.low, interval.high)] if interval else ["", "", ""]
        w.writerow([*cells, repr(s.metric)])
    return out.getvalue()


def _curves_csv(report: Report) -> str:
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["group", "episode", "mean", "ci_low", "ci_high", "success_rate", "success_ci_low", "success_ci_high"])
    for s in report.groups:
        for k in range(s.curve.shape[1]):
            success = [repr(float(x)) for x in s.success_curve[:, k]] if s.success_curve is not None else ["", "", ""]
            w.writerow([s.group.label, k + 1, *(repr(float(x)) for x in s.curve[:, k]), *success])
    return out.getvalue()


# --- figures -------------------------------------------------------------------------------------


def _label(s: GroupStats) -> str:
    return f"{s.group.label} ({len(s.seeds)} seed{'s' * (len(s.seeds) != 1)}, {_steps(s)} steps)"


def groups_figure(report: Report) -> Figure:
    """One adaptation curve per group: mean over seeds, 95% band across seeds."""
    curves = [Curve(_label(s), np.arange(1, s.curve.shape[1] + 1), *s.curve) for s in report.groups]
    first = report.groups[0].group.runs[0].config
    return adaptation_figure(curves, title=f"{first.get('agent')} on {first.get('env.id')}: mean over seeds, 95% CI across seeds")


def success_groups_figure(report: Report) -> Figure:
    """Success rate per episode index, one line per group (Meta-World)."""
    figure = Figure(figsize=(7.2, 4.8), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for s in report.groups:
        if s.success_curve is None:
            continue
        k = np.arange(1, s.success_curve.shape[1] + 1)
        line = ax.plot(k, s.success_curve[0], marker="o", label=_label(s))[0]
        defined = np.isfinite(s.success_curve[1])
        ax.fill_between(k, s.success_curve[1], s.success_curve[2], where=defined, alpha=0.2, color=line.get_color())
    ax.set_xlabel("episode on the task")
    ax.set_ylabel("success rate (mean over seeds, 95% CI)")
    ax.set_ylim(-0.02, 1.02)
    ax.legend(fontsize="small")
    return figure


def write_report(report: Report, folder: str | os.PathLike) -> list[Path]:
    """Write the report's files (module docstring) into ``folder``; returns their paths."""
    if not report.groups:
        raise ValueError("no evaluated runs to report on; each run writes eval/adaptation.json when its training ends")
    folder = Path(folder)
    written = [
        atomic_write_bytes(folder / "summary.md", markdown(report)),
        atomic_write_bytes(folder / "summary.csv", _csv(report)),
        atomic_write_bytes(folder / "curves.csv", _curves_csv(report)),
        atomic_write_bytes(folder / "adaptation.png", figure_png(groups_figure(report))),
    ]
    if any(s.success_curve is not None for s in report.groups):
        written.append(atomic_write_bytes(folder / "success.png", figure_png(success_groups_figure(report))))
    return written
