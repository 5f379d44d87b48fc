"""Adaptation-curve figures: one run (written by ``write_adaptation``) or several overlaid; and
learning-curve figures: meta-test return against env steps (``metarl curve --out``).

Figures are drawn with matplotlib's Agg canvas on ``matplotlib.figure.Figure`` objects, never
through ``pyplot``: no display is needed and no global figure state is kept.

Several runs of the same agent on the same env and split are treated as seeds of one
experiment and drawn as one curve: per episode index, the mean over seeds of each seed's mean
return over tasks, with a Student-t 95% interval over seeds (so the interval measures the
spread between runs, not between tasks). A group of one run is drawn with its interval over
tasks.

So that a figure says what it shows, labels and titles name the split, the number of tasks and
each run's env steps; reference returns on the same tasks (a random policy, dotted, and the
known-task optimum, dashed; ``metarl.runner.references``) are drawn when the results carry them, and
vertical lines mark where an agent adapts when it records ``adaptation_episodes`` (MAML and
CAVIA: an inner step after every ``K`` episodes; see ``metarl.common.protocol``).
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

from metarl.common.files import atomic_write_bytes
from metarl.report.results import REFERENCE_NAMES, AdaptationResult, mean_ci

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    # curves reads TensorBoard events; importing it here would load tensorboard for every plot
    from metarl.report.curves import LearningCurve


@dataclass(frozen=True)
class Curve:
    """One line of an adaptation figure: mean return per episode index and its interval.

    Optional: ``agent``, the agent's name (legend entries of its markers); ``references``,
    reference returns on the same tasks (drawn as horizontal lines); ``adaptation_episodes`` and
    ``adaptation_updates``, where the agent adapts (vertical lines after episodes ``K, 2K, ...``,
    at most ``adaptation_updates`` of them; see ``metarl.common.protocol``).
    """

    label: str
    episodes: np.ndarray
    mean: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    agent: str = ""
    references: Mapping[str, float] | None = None
    adaptation_episodes: int | None = None
    adaptation_updates: int | None = None


def format_steps(steps: int) -> str:
    """Env steps in three significant digits: ``7``, ``20k``, ``1.23M``."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(steps) >= scale:
            return f"{steps / scale:.3g}{suffix}"
    return str(int(steps))


def _steps_text(results: Sequence[AdaptationResult]) -> str | None:
    """The env steps of the evaluated agents (one value or a range); ``None`` when unknown."""
    steps = sorted({r.step for r in results if r.step is not None})
    if not steps:
        return None
    span = format_steps(steps[0]) if len(steps) == 1 else f"{format_steps(steps[0])}-{format_steps(steps[-1])}"
    return f"{span} env steps"


def _tasks_text(results: Sequence[AdaptationResult]) -> str:
    counts = sorted({len(r.tasks) for r in results})
    return f"{'/'.join(map(str, counts))} task{'s' if counts != [1] else ''}"


def _common(values: Sequence[int | None]) -> int | None:
    """The value all runs share, else ``None`` (no marker is drawn for runs that disagree)."""
    return values[0] if len(set(values)) == 1 else None


def _mean_references(results: Sequence[AdaptationResult]) -> dict[str, float] | None:
    """Per reference that every run carries, the mean over runs (seeds differ in the random one)."""
    if any(r.references is None for r in results):
        return None
    keys = [k for k in results[0].references if all(k in r.references for r in results)]
    return {k: float(np.mean([r.references[k] for r in results])) for k in keys} or None


def _curve(results: Sequence[AdaptationResult], label: str, mean, low, high) -> Curve:
    return Curve(
        label, np.arange(1, results[0].episodes + 1), mean, low, high, results[0].agent, _mean_references(results),
        _common([r.adaptation_episodes for r in results]), _common([r.adaptation_updates for r in results]),
    )  # fmt: skip


def _label(results: Sequence[AdaptationResult], seeds: str) -> str:
    first = results[0]
    details = ", ".join(x for x in (_tasks_text(results), seeds, _steps_text(results)) if x)
    return f"{first.agent} on {first.env_id} ({first.split}: {details})"


def result_curve(result: AdaptationResult) -> Curve:
    """The curve of one run: mean over tasks, interval over tasks. The label names the agent, the
    env, the split, the number of tasks, the seed and (when known) the agent's env steps."""
    mean, low, high = mean_ci(result.returns)
    return _curve([result], _label([result], f"seed {result.seed}"), mean, low, high)


def seeds_curve(results: Sequence[AdaptationResult]) -> Curve:
    """The curve of several runs of one experiment: mean over runs of their mean over tasks,
    interval over runs. All runs must have the same number of episodes. References are averaged
    over the runs; markers are kept where every run has the same ``adaptation_episodes``."""
    counts = {r.episodes for r in results}
    if len(counts) != 1:
        raise ValueError(
            f"cannot aggregate runs of {results[0].agent} on {results[0].env_id} with different numbers of "
            f"episodes {sorted(counts)}; evaluate every seed with the same episodes"
        )
    mean, low, high = mean_ci(np.stack([r.returns.mean(axis=0) for r in results]))
    seeds = f"{len(results)} seeds: " + ", ".join(str(r.seed) for r in results)
    return _curve(results, _label(results, seeds), mean, low, high)


def adaptation_curves(results: Sequence[AdaptationResult]) -> list[Curve]:
    """One curve per (agent, env, split), in order of first appearance; runs sharing them are
    aggregated over seeds (``seeds_curve``)."""
    groups: dict[tuple[str, str, str], list[AdaptationResult]] = {}
    for r in results:
        groups.setdefault((r.agent, r.env_id, r.split), []).append(r)
    return [result_curve(g[0]) if len(g) == 1 else seeds_curve(g) for g in groups.values()]


def result_title(result: AdaptationResult) -> str:
    """Title of a one-run figure: agent, env, tasks, split and env steps."""
    steps = _steps_text([result])
    return f"{result.agent} on {result.env_id}\n{_tasks_text([result])} of the {result.split} set" + (
        f", after {steps}" if steps else ""
    )


def curves_title(results: Sequence[AdaptationResult]) -> str:
    """Title of an overlay: the env, split and task count when the runs share them."""
    envs, splits = {r.env_id for r in results}, {r.split for r in results}
    if len(envs) == 1 and len(splits) == 1:
        return f"Adaptation on {results[0].env_id}: {_tasks_text(results)} of the {results[0].split} set per run"
    return "Adaptation curves"


#: Line style of each reference (``metarl.runner.references``); others are dash-dotted.
REFERENCE_STYLES = {"random": ":", "optimum": "--"}


def draw_references(ax: Axes, references: Sequence[tuple[Mapping[str, float] | None, str]]) -> None:
    """Horizontal lines of reference returns (``metarl.runner.references``), given per curve with its
    colour: one line per distinct (name, value), since curves on the same tasks share them."""
    drawn: set[tuple[str, float]] = set()
    for refs, color in references:
        for name, value in (refs or {}).items():
            if (name, value) not in drawn:
                drawn.add((name, value))
                ax.axhline(value, color=color, linewidth=1.2, linestyle=REFERENCE_STYLES.get(name, "-."),
                           label=f"{REFERENCE_NAMES.get(name, name)} ({value:.3g})")  # fmt: skip


def adaptation_figure(curves: Sequence[Curve], title: str | None = None) -> Figure:
    """A figure of mean return against episode index, one line per curve with a shaded interval
    (left out where it is undefined); the curves' references as horizontal lines (random
    dotted, optimum dashed; black when all curves share them, else in each curve's colour), and
    vertical lines between episode ``jK`` and ``jK + 1`` where a curve's agent adapts after every
    ``K = adaptation_episodes`` episodes."""
    figure = Figure(figsize=(7.2, 5.6), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    colors = []
    for curve in curves:
        (line,) = ax.plot(curve.episodes, curve.mean, marker="o", label=curve.label)
        colors.append(line.get_color())
        defined = np.isfinite(curve.ci_low) & np.isfinite(curve.ci_high)
        if defined.any():
            ax.fill_between(
                curve.episodes, curve.ci_low, curve.ci_high, where=defined, color=line.get_color(), alpha=0.2,
                linewidth=0,
            )
    reference_sets = {tuple(sorted(c.references.items())) for c in curves if c.references}
    shared = len(reference_sets) == 1
    draw_references(ax, [(c.references, "black" if shared else color) for c, color in zip(curves, colors)])
    for curve, color in zip(curves, colors):
        # One legend entry per curve for all its marks; dash-dot-dot, unlike the references.
        label = f"{curve.agent or 'agent'}: adapts after every {curve.adaptation_episodes} episodes"
        for j, x in enumerate(adaptation_marks(curve)):
            ax.axvline(x, color=color, linewidth=1.0, alpha=0.6, linestyle=(0, (4, 2, 1, 2)), label=None if j else label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("episode of the trial (same task)")
    ax.set_ylabel("return per episode (mean, 95% CI)")
    ax.grid(alpha=0.3)
    # Below the axes: inside, the long labels would hide the curves and the reference lines.
    ax.legend(fontsize="small", loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    if title:
        ax.set_title(title, fontsize="medium")
    return figure


def adaptation_marks(curve: Curve) -> list[float]:
    """x positions of the curve's adaptation steps: ``jK + 0.5`` for ``j = 1, 2, ...`` (between
    episodes ``jK`` and ``jK + 1``) while an episode follows and at most ``adaptation_updates``."""
    k, limit = curve.adaptation_episodes, curve.adaptation_updates
    if not k or len(curve.episodes) == 0:
        return []
    last = int(np.max(curve.episodes))
    count = (last - 1) // k if limit is None else min((last - 1) // k, limit)
    return [j * k + 0.5 for j in range(1, count + 1)]


def figure_png(figure: Figure, dpi: int = 120) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


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
    draw_references(ax, [(curve.references, "grey") for curve in curves.values()])
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
