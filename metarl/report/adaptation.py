"""The files of an adaptation curve: what ``write_adaptation`` writes into
``<run_dir>/eval/`` and ``load_adaptation`` reads back, and ``metarl plot``'s overlay of runs.

- ``adaptation.csv``: one row per task and episode, columns ``task_index`` (0-based index in
  the task set), the task parameters, ``episode`` (1-based), ``return``, ``length`` (steps).
  A task parameter becomes one column ``<name>`` when scalar, columns ``<name>_0 ..
  <name>_<m-1>`` (row-major flattening) when it has ``m <= MAX_PARAM_COLUMNS`` elements, and
  otherwise one column ``<name>`` holding its flattened values as a JSON list. Shapes and
  dtypes are in the JSON file, so ``load_adaptation`` restores the tasks exactly.
- ``adaptation.json``: ``format``, ``env``, ``split``, ``agent``, ``seed``, ``episodes``,
  ``n_tasks``, ``confidence``, ``task_parameters`` (name -> ``{"shape", "dtype"}``) and
  ``per_episode``: a list of ``{"episode", "mean", "ci_low", "ci_high", "n"}`` (the interval
  is ``null`` when it is undefined, i.e. for fewer than 2 tasks); ``step``, the env steps of
  the agent evaluated; ``adaptation_episodes`` and ``adaptation_updates``, the agent's optional
  attributes of the same names (``null`` when it has none; see ``metarl.common.protocol``); and, when the
  caller gave them, ``references``: ``{"random": x, "optimum": y}``, the mean return per episode
  of reference policies on the same tasks (``metarl.runner.references``; ``optimum`` only where the
  family defines one). Files without the optional entries (older ones) still load.
- ``adaptation.png``: the curve (see ``metarl.report.plotting``), with the references and the episodes
  after which the agent adapts marked.
- On families that report success (Meta-World), the CSV also has ``group`` (the task's class)
  and ``success`` (0/1: success at any step of the episode) columns, the JSON
  ``evaluation_episodes``, and Meta-World's protocol is written beside them
  (``success.{csv,json,png}``, see ``metarl.report.success``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from metarl.common.files import atomic_write_bytes
from metarl.core.tasks import Task
from metarl.report.plotting import (
    adaptation_curves,
    adaptation_figure,
    curves_title,
    figure_png,
    result_curve,
    result_title,
)
from metarl.report.results import CONFIDENCE, EVAL_DIR, FORMAT, MAX_PARAM_COLUMNS, AdaptationResult, EpisodeSummary


class SummaryWriterLike(Protocol):
    """What ``write_adaptation`` uses of a TensorBoard ``SummaryWriter``."""

    def add_scalar(self, tag: str, scalar_value: float, global_step: int | None = None) -> Any: ...

    def add_figure(self, tag: str, figure: Any, global_step: int | None = None) -> Any: ...


def write_adaptation(
    result: AdaptationResult,
    out_dir: str | os.PathLike,
    writer: SummaryWriterLike | None = None,
    step: int = 0,
    folder: str = EVAL_DIR,
    references: Mapping[str, float] | None = None,
) -> Path:
    """Write ``<folder>/adaptation.{csv,json,png}`` under the run directory ``out_dir`` (formats
    in the module docstring; the JSON also records ``step``, the env steps of the agent evaluated)
    and return that folder. ``references`` (e.g. ``metarl.runner.references.reference_returns`` on the
    same tasks; default: ``result.references``) go into the JSON and the figure. With a
    TensorBoard ``writer``, also log the scalars ``eval/adaptation/return_ep<k>`` (mean return of
    episode ``k``), ``eval/reference/<name>`` per reference, and the figure ``eval/adaptation``
    at ``step``."""
    if references is None:
        references = result.references
    references = None if references is None else {str(k): float(v) for k, v in references.items()}
    result = replace(result, step=step, references=references)  # the caller's result is left as it was
    folder = Path(out_dir) / folder
    summary = result.summary()
    atomic_write_bytes(folder / "adaptation.csv", _csv_text(result))
    meta = _summary_json(result, summary)
    atomic_write_bytes(folder / "adaptation.json", json.dumps(meta, indent=2) + "\n")
    figure = adaptation_figure([result_curve(result)], title=result_title(result))
    atomic_write_bytes(folder / "adaptation.png", figure_png(figure))
    report = None
    if result.successes is not None and result.groups is not None and result.evaluation_episodes:
        from metarl.report.success import write_success

        report = write_success(result, folder)
    if writer is not None and report is not None:
        writer.add_scalar("eval/success_rate", report.overall.success_rate, step)
        for row in report.classes:
            writer.add_scalar(f"eval/success_rate/{row.name}", row.success_rate, step)
    if writer is not None:
        for s in summary:
            writer.add_scalar(f"eval/adaptation/return_ep{s.episode}", s.mean, step)
            if math.isfinite(s.ci_high):  # the 95% interval's half-width, for learning-curve bands
                writer.add_scalar(f"eval/adaptation/ci95_ep{s.episode}", s.ci_high - s.mean, step)
        for name, value in (references or {}).items():
            writer.add_scalar(f"eval/reference/{name}", value, step)
        writer.add_figure("eval/adaptation", figure, step)
    return folder


def load_adaptation(path: str | os.PathLike) -> AdaptationResult:
    """Read a result written by ``write_adaptation``: ``path`` is a run directory, its ``eval``
    folder or the ``adaptation.json`` file (the CSV beside it is read too)."""
    path = Path(path)
    candidates = [path, path / "adaptation.json", path / EVAL_DIR / "adaptation.json"]
    json_path = next((p for p in candidates if p.is_file()), None)
    if json_path is None:
        raise FileNotFoundError(
            f"no adaptation result at {str(path)!r}; expected a run directory holding eval/adaptation.json, "
            "an eval folder or an adaptation.json file"
        )
    meta = json.loads(json_path.read_text())
    if meta.get("format") != FORMAT:
        raise ValueError(f"{json_path} has format {meta.get('format')!r}; this version reads {FORMAT!r}")
    csv_path = json_path.with_suffix(".csv")
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    n, episodes = meta["n_tasks"], meta["episodes"]
    if len(rows) != n * episodes:
        raise ValueError(f"{csv_path} has {len(rows)} rows; expected n_tasks * episodes = {n} * {episodes}")
    returns = np.zeros((n, episodes))
    lengths = np.zeros((n, episodes), dtype=np.int64)
    tasks: list[Task | None] = [None] * n
    has_success = bool(rows) and "success" in rows[0]
    successes = np.zeros((n, episodes), dtype=bool) if has_success else None
    groups: list[str] | None = [""] * n if bool(rows) and "group" in rows[0] else None
    for row in rows:
        i, k = int(row["task_index"]), int(row["episode"]) - 1
        returns[i, k], lengths[i, k] = float(row["return"]), int(row["length"])
        if successes is not None:
            successes[i, k] = row["success"] == "1"
        if groups is not None:
            groups[i] = row["group"]
        if tasks[i] is None:
            tasks[i] = {name: _parse_param(name, spec, row) for name, spec in meta["task_parameters"].items()}
    # step, adaptation_* and references are optional: files written before they existed lack them.
    references = meta.get("references")
    return AdaptationResult(
        meta["env"], meta["split"], meta["agent"], tasks, returns, lengths, meta["seed"], meta.get("step"),
        meta.get("adaptation_episodes"), meta.get("adaptation_updates"),
        None if references is None else {str(k): float(v) for k, v in references.items()},
        successes, groups, meta.get("evaluation_episodes"),
    )  # fmt: skip


def _param_columns(name: str, value: np.ndarray) -> list[str]:
    if value.ndim == 0 or value.size > MAX_PARAM_COLUMNS:
        return [name]
    return [f"{name}_{j}" for j in range(value.size)]


def _format_number(x: np.generic) -> str:
    """Shortest text that reads back to the same value in the array's own dtype."""
    if np.issubdtype(type(x), np.floating):
        return np.format_float_positional(x, unique=True, trim="-")
    return str(x)


def _param_cells(value: np.ndarray) -> list[str]:
    flat = value.reshape(-1)
    if value.ndim == 0:
        return [_format_number(flat[0])]
    if value.size > MAX_PARAM_COLUMNS:
        return ["[" + ",".join(_format_number(x) for x in flat) + "]"]
    return [_format_number(x) for x in flat]


def _parse_param(name: str, spec: Mapping[str, Any], row: Mapping[str, str]) -> np.ndarray:
    shape, dtype = tuple(spec["shape"]), np.dtype(spec["dtype"])
    size = int(np.prod(shape))
    if len(shape) == 0:
        cells = [row[name]]
    elif size > MAX_PARAM_COLUMNS:
        cells = json.loads(row[name])
    else:
        cells = [row[f"{name}_{j}"] for j in range(size)]
    return np.array([float(c) for c in cells]).astype(dtype).reshape(shape)


def _csv_text(result: AdaptationResult) -> str:
    first = result.tasks[0]
    param_header = [c for name, v in first.items() for c in _param_columns(name, np.asarray(v))]
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    group = ["group"] if result.groups is not None else []
    success = ["success"] if result.successes is not None else []
    w.writerow(["task_index", *param_header, *group, "episode", "return", "length", *success])
    for i, task in enumerate(result.tasks):
        cells = [c for v in task.values() for c in _param_cells(np.asarray(v))]
        cells += [result.groups[i]] if result.groups is not None else []
        for k in range(result.episodes):
            done = [int(result.successes[i, k])] if result.successes is not None else []
            w.writerow([i, *cells, k + 1, repr(float(result.returns[i, k])), int(result.lengths[i, k]), *done])
    return out.getvalue()


def _summary_json(result: AdaptationResult, summary: list[EpisodeSummary]) -> dict[str, Any]:
    finite = lambda x: x if math.isfinite(x) else None  # noqa: E731  (JSON has no NaN)
    return {
        "format": FORMAT,
        "env": result.env_id,
        "split": result.split,
        "agent": result.agent,
        "seed": result.seed,
        "episodes": result.episodes,
        "n_tasks": len(result.tasks),
        "confidence": CONFIDENCE,
        "task_parameters": {
            name: {"shape": list(np.shape(v)), "dtype": str(np.asarray(v).dtype)} for name, v in result.tasks[0].items()
        },
        "per_episode": [
            {"episode": s.episode, "mean": s.mean, "ci_low": finite(s.ci_low), "ci_high": finite(s.ci_high), "n": s.n}
            for s in summary
        ],
        "step": result.step,
        "adaptation_episodes": result.adaptation_episodes,
        "adaptation_updates": result.adaptation_updates,
        **({} if result.references is None else {"references": result.references}),
        **({} if result.evaluation_episodes is None else {"evaluation_episodes": result.evaluation_episodes}),
    }


def plot_adaptation_curves(runs: Sequence[str | os.PathLike], out: str | os.PathLike) -> Path:
    """Overlay the adaptation curves of several runs (run directories, ``eval`` folders or
    ``adaptation.json`` files) in one PNG written atomically to ``out``; returns ``out``. Labels
    and title name the split, the number of tasks and each run's env steps; references and
    adaptation steps recorded in the runs are drawn (``adaptation_figure``)."""
    if not runs:
        raise ValueError("plot_adaptation_curves needs at least one run, got none")
    results = [load_adaptation(run) for run in runs]
    figure = adaptation_figure(adaptation_curves(results), title=curves_title(results))
    return atomic_write_bytes(out, figure_png(figure))
