"""An adaptation curve's data: returns of K consecutive episodes per held-out task, and its statistics.

``metarl.runner.evaluation`` produces an ``AdaptationResult``; ``metarl.report.adaptation``
writes and reads its files; ``metarl.report.plotting`` draws it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

from metarl.core.tasks import Task

EVAL_DIR = "eval"

#: Reference policies scored beside a curve (``metarl.runner.references``), by key.
REFERENCE_NAMES = {"random": "random policy", "optimum": "known-task optimum"}

#: Coverage of the confidence intervals of the adaptation curve.
CONFIDENCE = 0.95
#: Task parameters with at most this many elements get one CSV column per element.
MAX_PARAM_COLUMNS = 16
#: Identifies the layout of ``adaptation.json`` (bumped when it changes incompatibly).
FORMAT = "metarl.adaptation/1"


def mean_ci(values: np.ndarray, confidence: float = CONFIDENCE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over axis 0 and its Student-t confidence interval, ``(mean, low, high)``.

    The interval is ``mean -/+ t_{(1+confidence)/2, m-1} * std(ddof=1) / sqrt(m)`` over the
    ``m`` rows; it is NaN when ``m < 2``.
    """
    values = np.asarray(values, dtype=np.float64)
    m = values.shape[0]
    if m == 0:
        raise ValueError("mean_ci needs at least one value, got an empty array")
    mean = values.mean(axis=0)
    if m < 2:
        return mean, np.full_like(mean, np.nan), np.full_like(mean, np.nan)
    half = stats.t.ppf((1 + confidence) / 2, m - 1) * values.std(axis=0, ddof=1) / math.sqrt(m)
    return mean, mean - half, mean + half


@dataclass(frozen=True)
class EpisodeSummary:
    """The curve at one episode index (1-based): mean return over ``n`` values and its CI."""

    episode: int
    mean: float
    ci_low: float
    ci_high: float
    n: int


@dataclass
class AdaptationResult:
    """Returns of ``K`` consecutive episodes on each of ``n`` tasks.

    ``returns`` and ``lengths`` are ``(n_tasks, K)`` arrays (float64, int64); ``tasks[i]`` is
    the task of row ``i``; ``split`` is the task set's name, or ``"custom"`` for given tasks.
    Optional, for reports and figures: ``step``, the env steps of the agent evaluated (set by
    ``load_adaptation``; ``None`` when unknown); ``adaptation_episodes`` and
    ``adaptation_updates``, the agent's attributes of those names (see ``metarl.common.protocol``);
    ``references``, reference returns on the same tasks (``metarl.runner.references``).
    On families that report success (Meta-World): ``successes``, ``(n_tasks, K)`` bool (success
    at any step of the episode); ``groups``, each task's group (its class); and
    ``evaluation_episodes``, how many of the last episodes are the protocol's evaluation phase
    (``metarl.report.success``).
    """

    env_id: str
    split: str
    agent: str
    tasks: list[Task]
    returns: np.ndarray
    lengths: np.ndarray
    seed: int | None = None
    step: int | None = None
    adaptation_episodes: int | None = None
    adaptation_updates: int | None = None
    references: dict[str, float] | None = None
    successes: np.ndarray | None = None
    groups: list[str] | None = None
    evaluation_episodes: int | None = None

    def __post_init__(self) -> None:
        if self.returns.ndim != 2 or self.returns.shape != self.lengths.shape or len(self.tasks) != len(self.returns):
            raise ValueError(
                f"returns {self.returns.shape} and lengths {self.lengths.shape} must be (n_tasks, episodes) "
                f"with n_tasks = {len(self.tasks)} tasks"
            )
        if self.successes is not None:
            self.successes = np.asarray(self.successes, dtype=bool)
            if self.successes.shape != self.returns.shape:
                raise ValueError(f"successes {self.successes.shape} must have the shape of returns {self.returns.shape}")
        if self.groups is not None and len(self.groups) != len(self.tasks):
            raise ValueError(f"groups has {len(self.groups)} entries; expected one per task ({len(self.tasks)})")
        e = self.evaluation_episodes
        if e is not None and not (isinstance(e, (int, np.integer)) and 0 <= e <= self.episodes):
            raise ValueError(f"evaluation_episodes must be an integer in [0, {self.episodes}], got {e!r}")

    @property
    def episodes(self) -> int:
        """``K``, the number of consecutive episodes per task."""
        return self.returns.shape[1]

    def summary(self, confidence: float = CONFIDENCE) -> list[EpisodeSummary]:
        """Per episode index: the mean return over tasks and its Student-t interval (``mean_ci``)."""
        mean, low, high = mean_ci(self.returns, confidence)
        n = len(self.tasks)
        return [EpisodeSummary(k + 1, float(mean[k]), float(low[k]), float(high[k]), n) for k in range(self.episodes)]
