"""Meta-test return against environment steps and wall-clock, read back from a run's TensorBoard events.

Training with ``eval.every_steps`` logs ``eval/adaptation/return_ep<k>`` at each evaluation;
``metarl curve RUN [--target R]`` prints them as a table, and with a target return the first
evaluation whose last evaluated episode's return reaches it (the benchmark view: how fast, in samples and in
seconds, an agent learns to adapt, e.g. PEARL on cheetah-vel against the paper's final return).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

_TAG = re.compile(r"^eval/adaptation/return_ep(\d+)$")
_TRAIN_SECONDS = "perf/train_seconds"
_REFERENCE = "eval/reference/"
#: The overall success rate of each evaluation, periodic and final (families that report success).
SUCCESS_TAG = "eval/success_rate"


@dataclass(frozen=True)
class LearningCurve:
    """A run's periodic evaluations: ``returns[i][j]`` is the mean return of episode
    ``episodes[j]`` at ``steps[i]`` env steps, reached after ``seconds[i]`` of training
    (``perf/train_seconds``: wall-clock summed over the sessions of a resumed run). For a run whose
    training time was not counted (trained before metarl logged it), ``seconds[i]`` is the time
    since the run's first event, pauses between sessions included; NaN where a counted run has no
    training time at that step."""

    steps: list[int]
    episodes: list[int]
    returns: list[list[float]]
    seconds: list[float]
    #: Half-widths of the 95% intervals over tasks, like ``returns`` (NaN where not logged).
    ci95: list[list[float]] | None = None
    #: Reference scores on the same tasks logged with the final evaluation (``eval/reference/<name>``:
    #: ``random``, ``optimum``), the latest value of each.
    references: dict[str, float] | None = None

    def adapted_returns(self) -> list[float]:
        """Per evaluation, the return of its last evaluated episode (the most adapted one)."""
        return [next((r for r in reversed(row) if not math.isnan(r)), math.nan) for row in self.returns]

    def first_reaching(self, target: float) -> int | None:
        """Index of the first evaluation whose adapted return is >= ``target``, or None."""
        return next((i for i, r in enumerate(self.adapted_returns()) if r >= target), None)


def _events(run_dir: str | os.PathLike) -> EventAccumulator:
    """Every scalar of the run's TensorBoard event files (none sampled away)."""
    events = EventAccumulator(str(Path(run_dir)), size_guidance={"scalars": 0})
    events.Reload()
    return events


def learning_curve(run_dir: str | os.PathLike) -> LearningCurve:
    """The periodic evaluations of the run in ``run_dir``."""
    events = _events(run_dir)
    scalar_tags = events.Tags()["scalars"]
    episodes = sorted(int(m.group(1)) for tag in scalar_tags if (m := _TAG.match(tag)))
    if not episodes:
        raise ValueError(f"{run_dir} has no eval/adaptation/return_ep<k> scalars; train with eval.every_steps set")
    start = min(events.Scalars(tag)[0].wall_time for tag in scalar_tags if events.Scalars(tag))
    by_step: dict[int, dict[int, float]] = {}
    wall: dict[int, float] = {}
    for k in episodes:
        for event in events.Scalars(f"eval/adaptation/return_ep{k}"):
            by_step.setdefault(event.step, {})[k] = event.value
            wall[event.step] = max(wall.get(event.step, -math.inf), event.wall_time - start)
    steps = sorted(by_step)
    returns = [[by_step[s].get(k, float("nan")) for k in episodes] for s in steps]
    half: dict[int, dict[int, float]] = {}
    for k in episodes:
        if f"eval/adaptation/ci95_ep{k}" in scalar_tags:
            for event in events.Scalars(f"eval/adaptation/ci95_ep{k}"):
                half.setdefault(event.step, {})[k] = event.value
    ci95 = [[half.get(s, {}).get(k, math.nan) for k in episodes] for s in steps] if half else None
    references = {
        tag.rsplit("/", 1)[1]: events.Scalars(tag)[-1].value for tag in scalar_tags if tag.startswith(_REFERENCE)
    } or None
    if _TRAIN_SECONDS not in scalar_tags:
        return LearningCurve(steps, episodes, returns, [wall[s] for s in steps], ci95, references)
    trained = {e.step: e.value for e in events.Scalars(_TRAIN_SECONDS)}
    # Runs from before metarl counted training time lack it at some steps.
    return LearningCurve(steps, episodes, returns, [trained.get(s, math.nan) for s in steps], ci95, references)


def success_history(run_dir: str | os.PathLike) -> dict[int, float]:
    """The overall success rate (``eval/success_rate``) of each evaluation of the run in
    ``run_dir``, by env step; empty where none was logged. A resumed run's purged steps are gone."""
    events = _events(run_dir)
    if SUCCESS_TAG not in events.Tags()["scalars"]:
        return {}
    return {event.step: event.value for event in events.Scalars(SUCCESS_TAG)}
