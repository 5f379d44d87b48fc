"""Evaluation: the adaptation curve, the one rollout routine every agent is measured with.

For each held-out task of a fixed task set, the agent's adaptation state is reset
(``begin_task``), then it runs ``K`` consecutive episodes on that task; the curve is the mean
return over tasks per episode index ``1..K`` with a 95% confidence interval. All tasks run at
once, one sub-env each, in lockstep on torch tensors (see ``run_adaptation``).

Files written by ``write_adaptation`` into ``<run_dir>/eval/``:

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
  attributes of the same names (``null`` when it has none; see ``metarl.agent``); and, when the
  caller gave them, ``references``: ``{"random": x, "optimum": y}``, the mean return per episode
  of reference policies on the same tasks (``metarl.references``; ``optimum`` only where the
  family defines one). Files without the optional entries (older ones) still load.
- ``adaptation.png``: the curve (see ``metarl.plotting``), with the references and the episodes
  after which the agent adapts marked.
"""

from __future__ import annotations

import csv
import inspect
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import gymnasium as gym
import numpy as np
import torch
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode
from scipy import stats

from .agent import Agent, AgentState, TaskAware, Transition, agent_name
from .files import atomic_write_bytes
from .runs import EVAL_DIR
from .tasks import Task
from .vector import TaskVectorEnv

#: Coverage of the confidence intervals of the adaptation curve.
CONFIDENCE = 0.95
#: Task parameters with at most this many elements get one CSV column per element.
MAX_PARAM_COLUMNS = 16
#: Identifies the layout of ``adaptation.json`` (bumped when it changes incompatibly).
FORMAT = "metarl.adaptation/1"


# ----- rollouts ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class AdaptationRollout:
    """What ``run_adaptation`` returns: tensors on the env's device and the final agent state.

    ``returns`` ``(n, K)`` float64 and ``lengths`` ``(n, K)`` int64: the return and the number
    of steps of episode ``k`` on sub-env ``i``.
    """

    returns: torch.Tensor
    lengths: torch.Tensor
    state: AgentState


def run_adaptation(
    agent: Agent,
    env: TaskVectorEnv,
    episodes: int,
    *,
    deterministic: bool = True,
    seed: int | None = None,
) -> AdaptationRollout:
    """Run ``episodes`` consecutive episodes of ``agent`` on every sub-env's current task.

    ``env`` must have autoreset disabled and a time limit. The agent's state covers all
    sub-envs: ``begin_task(num_envs)`` once, then per episode: reset every sub-env, step all of
    them in lockstep until each one's episode ended, calling ``act`` and ``observe`` once per
    step, and finally ``end_episode``. A sub-env whose episode ended waits for the others: its
    observation is kept, its rewards are not counted and its rows of the transitions passed to
    ``observe`` have ``valid`` False (the env API has no per-sub-env step, so it is stepped
    with the others and the results are discarded). ``seed`` seeds the first reset only, so
    the episodes of a trial continue one random stream. A ``TaskAware`` agent (an oracle) is
    given the sub-envs' tasks, ``agent.set_tasks(env.get_tasks())``, before ``begin_task``.
    """
    if not isinstance(agent, Agent):
        raise TypeError(f"{type(agent).__name__} is not an Agent; it needs begin_task, act, observe and end_episode")
    if not isinstance(episodes, (int, np.integer)) or episodes < 1:
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if env.metadata.get("autoreset_mode") is not AutoresetMode.DISABLED:
        raise ValueError(
            f"run_adaptation needs an env with autoreset disabled, got {env.metadata.get('autoreset_mode')!r}; "
            "build it with autoreset_mode='disabled'"
        )
    if env.max_episode_steps is None:
        raise ValueError("run_adaptation needs an env with a time limit, got max_episode_steps=None")
    n = env.num_envs
    returns = torch.zeros(n, episodes, dtype=torch.float64, device=env.device)
    lengths = torch.zeros(n, episodes, dtype=torch.int64, device=env.device)
    if isinstance(agent, TaskAware):
        agent.set_tasks(env.get_tasks())
    state = agent.begin_task(n)
    for k in range(episodes):
        obs, _ = env.reset(seed=seed if k == 0 else None)
        active = torch.ones(n, dtype=torch.bool, device=env.device)
        while bool(active.any()):
            actions, state = agent.act(obs, state, deterministic)
            if not isinstance(actions, torch.Tensor) or actions.shape[:1] != (n,):
                shape = tuple(actions.shape) if isinstance(actions, torch.Tensor) else type(actions).__name__
                raise ValueError(f"{agent_name(agent)}.act must return a tensor of {n} actions, got {shape}")
            next_obs, reward, terminated, truncated, _ = env.step(actions)
            rows = active.view(n, *([1] * (obs.ndim - 1)))
            next_obs = torch.where(rows, next_obs, obs)
            reward = torch.where(active, reward, torch.zeros_like(reward))
            terminated, truncated = terminated & active, truncated & active
            state = agent.observe(state, Transition(obs, actions, reward, next_obs, terminated, truncated, active))
            returns[:, k] += reward
            lengths[:, k] += active.long()
            obs = next_obs
            active = active & ~(terminated | truncated)
        state = agent.end_episode(state)
    return AdaptationRollout(returns, lengths, state)


# ----- results -----------------------------------------------------------------------------------
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
    ``adaptation_updates``, the agent's attributes of those names (see ``metarl.agent``);
    ``references``, reference returns on the same tasks (``metarl.references``).
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

    def __post_init__(self) -> None:
        if self.returns.ndim != 2 or self.returns.shape != self.lengths.shape or len(self.tasks) != len(self.returns):
            raise ValueError(
                f"returns {self.returns.shape} and lengths {self.lengths.shape} must be (n_tasks, episodes) "
                f"with n_tasks = {len(self.tasks)} tasks"
            )

    @property
    def episodes(self) -> int:
        """``K``, the number of consecutive episodes per task."""
        return self.returns.shape[1]

    def summary(self, confidence: float = CONFIDENCE) -> list[EpisodeSummary]:
        """Per episode index: the mean return over tasks and its Student-t interval (``mean_ci``)."""
        mean, low, high = mean_ci(self.returns, confidence)
        n = len(self.tasks)
        return [EpisodeSummary(k + 1, float(mean[k]), float(low[k]), float(high[k]), n) for k in range(self.episodes)]


def evaluate_adaptation(
    agent: Agent,
    env_id: str,
    *,
    split: str = "test",
    episodes: int | None = None,
    seed: int | None = 0,
    device: str | torch.device = "cpu",
    env_kwargs: Mapping[str, Any] | None = None,
    deterministic: bool = True,
    tasks: Sequence[Mapping[str, Any]] | None = None,
) -> AdaptationResult:
    """The adaptation curve of ``agent`` on the fixed task set ``split`` of family ``env_id``.

    Builds the batched env with one sub-env per task (autoreset disabled) on ``device`` and
    runs ``run_adaptation``. ``episodes`` defaults to the family's ``trial_episodes``;
    ``env_kwargs`` go to ``gymnasium.make_vec`` (family and backend options); ``tasks``
    replaces the task set (the result's split is then ``"custom"``). The agent's optional
    ``adaptation_episodes`` and ``adaptation_updates`` are recorded in the result.
    """
    marks = {name: _optional_count(agent, name, minimum) for name, minimum in _ADAPTATION_MARKS.items()}
    kwargs = dict(env_kwargs or {})
    if tasks is None:
        family = _family(env_id, kwargs)
        tasks = family.task_set(split)
        family.close()
    else:
        tasks, split = list(tasks), "custom"
        if not tasks:
            raise ValueError("tasks is empty; give at least one task or tasks=None for the task set")
    env = gym.make_vec(
        env_id,
        num_envs=len(tasks),
        vectorization_mode="vector_entry_point",
        device=device,
        tasks=list(tasks),
        autoreset_mode="disabled",
        **kwargs,
    )
    try:
        if episodes is None:
            episodes = env.family.trial_episodes
        rollout = run_adaptation(agent, env, episodes, deterministic=deterministic, seed=seed)
        validated = [env.family.validate_task(t) for t in tasks]
    finally:
        env.close()
    return AdaptationResult(
        env_id,
        split,
        agent_name(agent),
        validated,
        rollout.returns.cpu().numpy(),
        rollout.lengths.cpu().numpy(),
        seed,
        **marks,
    )


#: The agent's optional attributes that say where it adapts (see ``metarl.agent``), and their
#: least allowed value.
_ADAPTATION_MARKS = {"adaptation_episodes": 1, "adaptation_updates": 0}


def _optional_count(agent: Agent, name: str, minimum: int) -> int | None:
    """The agent's attribute ``name``: ``None`` when absent, else an integer >= ``minimum``
    (checked before the rollouts: a bad value would only surface when the figure is drawn)."""
    value = getattr(agent, name, None)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{agent_name(agent)}.{name} must be None or an integer >= {minimum}, got {value!r}")
    return int(value)


def _family(env_id: str, env_kwargs: Mapping[str, Any]) -> Any:
    """A single-env instance of family ``env_id`` built with the family options among
    ``env_kwargs`` (those its constructor accepts; backend options are left out)."""
    spec = gym.spec(env_id)
    cls = load_env_creator(spec.entry_point)
    accepted = inspect.signature(cls).parameters
    options = {k: v for k, v in env_kwargs.items() if k in accepted and k != "task"}
    return cls(**{**spec.kwargs, **options})


# ----- files -------------------------------------------------------------------------------------
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
    and return that folder. ``references`` (e.g. ``metarl.references.reference_returns`` on the
    same tasks; default: ``result.references``) go into the JSON and the figure. With a
    TensorBoard ``writer``, also log the scalars ``eval/adaptation/return_ep<k>`` (mean return of
    episode ``k``), ``eval/reference/<name>`` per reference, and the figure ``eval/adaptation``
    at ``step``."""
    from .plotting import adaptation_figure, figure_png, result_curve, result_title  # matplotlib only when writing

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
    for row in rows:
        i, k = int(row["task_index"]), int(row["episode"]) - 1
        returns[i, k], lengths[i, k] = float(row["return"]), int(row["length"])
        if tasks[i] is None:
            tasks[i] = {name: _parse_param(name, spec, row) for name, spec in meta["task_parameters"].items()}
    # step, adaptation_* and references are optional: files written before they existed lack them.
    references = meta.get("references")
    return AdaptationResult(
        meta["env"], meta["split"], meta["agent"], tasks, returns, lengths, meta["seed"], meta.get("step"),
        meta.get("adaptation_episodes"), meta.get("adaptation_updates"),
        None if references is None else {str(k): float(v) for k, v in references.items()},
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
    w.writerow(["task_index", *param_header, "episode", "return", "length"])
    for i, task in enumerate(result.tasks):
        cells = [c for v in task.values() for c in _param_cells(np.asarray(v))]
        for k in range(result.episodes):
            w.writerow([i, *cells, k + 1, repr(float(result.returns[i, k])), int(result.lengths[i, k])])
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
    }
