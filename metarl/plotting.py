"""Adaptation-curve figures: one run (written by ``write_adaptation``) or several overlaid; and
learning-curve figures: meta-test return against env steps (``metarl curve --out``).

Figures are drawn with matplotlib's Agg canvas on ``matplotlib.figure.Figure`` objects, never
through ``pyplot``: no display is needed and no global figure state is kept.

Several runs of the same agent on the same env and split are treated as seeds of one
experiment and drawn as one curve: per episode index, the mean over seeds of each seed's mean
return over tasks, with a Student-t 95% interval over seeds (so the interval measures the
spread between runs, not between tasks). A group of one run is drawn with its interval over
tasks.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .evaluation import AdaptationResult, load_adaptation, mean_ci
from .files import atomic_write_bytes

if TYPE_CHECKING:  # curves reads TensorBoard events; importing it here would load tensorboard for every plot
    from .curves import LearningCurve


@dataclass(frozen=True)
class Curve:
    """One line of an adaptation figure: mean return per episode index and its interval."""

    label: str
    episodes: np.ndarray
    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray


def result_curve(result: AdaptationResult) -> Curve:
    """The curve of one run: mean over tasks, interval over tasks."""
    mean, low, high = mean_ci(result.returns)
    label = f"{result.agent} on {result.env_id} ({result.split}, seed {result.seed})"
    return Curve(label, np.arange(1, result.episodes + 1), mean, low, high)


def seeds_curve(results: Sequence[AdaptationResult]) -> Curve:
    """The curve of several runs of one experiment: mean over runs of their mean over tasks,
    interval over runs. All runs must have the same number of episodes."""
    counts = {r.episodes for r in results}
    if len(counts) != 1:
        raise ValueError(
            f"cannot aggregate runs of {results[0].agent} on {results[0].env_id} with different numbers of "
            f"episodes {sorted(counts)}; evaluate every seed with the same episodes"
        )
    mean, low, high = mean_ci(np.stack([r.returns.mean(axis=0) for r in results]))
    seeds = ", ".join(str(r.seed) for r in results)
    first = results[0]
    label = f"{first.agent} on {first.env_id} ({first.split}, {len(results)} seeds: {seeds})"
    return Curve(label, np.arange(1, first.episodes + 1), mean, low, high)


def adaptation_curves(results: Sequence[AdaptationResult]) -> list[Curve]:
    """One curve per (agent, env, split), in order of first appearance; runs sharing them are
    aggregated over seeds (``seeds_curve``)."""
    groups: dict[tuple[str, str, str], list[AdaptationResult]] = {}
    for r in results:
        groups.setdefault((r.agent, r.env_id, r.split), []).append(r)
    return [result_curve(g[0]) if len(g) == 1 else seeds_curve(g) for g in groups.values()]


def adaptation_figure(curves: Sequence[Curve], title: str | None = None) -> Figure:
    """A figure of mean return against episode index, one line per curve with a shaded interval
    (left out where it is undefined)."""
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for curve in curves:
        (line,) = ax.plot(curve.episodes, curve.mean, marker="o", label=curve.label)
        defined = np.isfinite(curve.ci_low) & np.isfinite(curve.ci_high)
        if defined.any():
            ax.fill_between(
                curve.episodes, curve.ci_low, curve.ci_high, where=defined, color=line.get_color(), alpha=0.2,
                linewidth=0,
            )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("episode of the trial")
    ax.set_ylabel("return (mean, 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    if title:
        ax.set_title(title)
    return figure


def figure_png(figure: Figure, dpi: int = 120) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


def plot_adaptation_curves(runs: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Overlay the adaptation curves of several runs (run directories, ``eval`` folders or
    ``adaptation.json`` files) in one PNG written atomically to ``out``; returns ``out``."""
    if not runs:
        raise ValueError("plot_adaptation_curves needs at least one run, got none")
    curves = adaptation_curves([load_adaptation(run) for run in runs])
    return atomic_write_bytes(out, figure_png(adaptation_figure(curves, title="Adaptation curves")))


def learning_curve_figure(
    curves: Mapping[str, LearningCurve], target: float | None = None, title: str | None = None
) -> Figure:
    """Meta-test return against env steps, one colour per labelled run: the first episode of
    experience (no adaptation yet) solid, the last evaluated one (the most adapted) dashed when
    it differs, each with its 95% band over tasks where the run logged it; ``target`` (e.g. a
    paper's final return) as a horizontal line."""
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    for label, curve in curves.items():
        returns = np.asarray(curve.returns, dtype=np.float64)
        half = np.asarray(curve.ci95, dtype=np.float64) if curve.ci95 is not None else None
        shown = [0] if len(curve.episodes) == 1 else [0, len(curve.episodes) - 1]
        color = None
        for column, style in zip(shown, ("-", "--")):
            # The last column may be NaN at evaluations with fewer episodes: draw what was evaluated.
            y = returns[:, column] if column == 0 else np.asarray(curve.adapted_returns())
            name = f"{label}, episode {curve.episodes[column]}" + (" (before adapting)" if column == 0 else "")
            (line,) = ax.plot(curve.steps, y, linestyle=style, marker=".", color=color, label=name)
            color = line.get_color()
            if half is not None and np.isfinite(half[:, column]).any():
                ax.fill_between(curve.steps, y - half[:, column], y + half[:, column], color=color, alpha=0.15, linewidth=0)
    if target is not None:
        ax.axhline(target, color="black", linewidth=1, linestyle=":", label=f"target {target:g}")
    ax.set_xlabel("env steps")
    ax.set_ylabel("meta-test return (mean over tasks, 95% CI)")
    ax.set_title(title or "Meta-test return during training")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return figure


def plot_learning_curves(curves: Mapping[str, LearningCurve], out: str | os.PathLike, target: float | None = None) -> Path:
    """``learning_curve_figure`` as a PNG written atomically to ``out``; returns ``out``."""
    if not curves:
        raise ValueError("plot_learning_curves needs at least one run, got none")
    return atomic_write_bytes(out, figure_png(learning_curve_figure(curves, target)))
