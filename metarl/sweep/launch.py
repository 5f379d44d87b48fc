"""Running a sweep on Ray Tune: the Ray instance, the Tuner, progress lines and the outcome of every run.

Without an address a local Ray instance is started for the sweep (bound to 127.0.0.1, no
dashboard, its logs under ``<tmp>/metarl-ray-<uid>``) and shut down after it; with one
(``--address HOST:PORT`` of a ``ray start --head``) the sweep's trials run on that cluster, whose
every node must see ``OUT`` at the same path (a shared file system) and have metarl installed. A
process that has already connected to Ray (a test, a notebook) is used as it is.

Resuming (``--resume OUT``) re-launches the unfinished trials from ``OUT/sweep.yaml`` and the run
directories rather than with ``Tuner.restore``: the run directories are the authoritative,
atomically written record (Tune's experiment state is saved every few seconds, so a kill can lose
its last changes), a finished trial is then not even scheduled, and nothing is unpickled from
``OUT`` (Tune's state holds pickled trainables and searchers). Tune's own ``FailureConfig``
retries a trial whose worker died or which raised, ``max_failures`` times, each retry resuming the
run from its newest checkpoint; a trial still failing is reported while the others finish.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from metarl.report.adaptation import load_adaptation
from metarl.report.aggregate import metric_value
from metarl.sweep.search import groups_on_disk, plan_search
from metarl.sweep.spec import SweepSpec
from metarl.sweep.trainable import trainable, trial_group, trial_seeds
from metarl.sweep.trials import Group, grid_groups, last_error_line, run_dir, run_name, run_state

__all__ = ["RunOutcome", "ray_session", "run_sweep"]

#: Ray's session folders (logs, sockets) for local instances; short, since Unix socket paths are.
RAY_TEMP_DIR = Path(tempfile.gettempdir()) / f"metarl-ray-{os.getuid()}"
TUNE_DIR = "tune"
_PENDING_LIMIT = "TUNE_MAX_PENDING_TRIALS_PG"


@contextmanager
def ray_session(address: str | None = None, num_cpus: int | None = None) -> Iterator[None]:
    """Connect to Ray for the ``with`` block: the cluster at ``address``, or a local instance
    with ``num_cpus`` CPUs (default: those this process may use) started and shut down here."""
    # Tune's plain reporter (not the boxed tables): the sweep prints its own lines per trial.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    if address is None:
        # Ray binds a local instance to the machine's network address unless told that this node
        # forms no cluster; read when ray is first imported, so it is set before.
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    elif "RAY_AUTH_MODE" not in os.environ and _has_auth_token():
        # `ray start --head` protects the cluster with a token (~/.ray/auth_token); ray.init sends
        # it only in token mode, which `ray start` switches on for itself but a client must ask for.
        os.environ["RAY_AUTH_MODE"] = "token"
    import ray

    if ray.is_initialized():
        yield
        return
    quiet = {"logging_level": logging.ERROR, "log_to_driver": False}
    if address is None:
        cpus = num_cpus or len(os.sched_getaffinity(0))
        RAY_TEMP_DIR.mkdir(parents=True, exist_ok=True)
        ray.init(address="local", num_cpus=cpus, include_dashboard=False, _temp_dir=str(RAY_TEMP_DIR), **quiet)
    else:
        ray.init(address=address, **quiet)
    try:
        yield
    finally:
        ray.shutdown()


def _has_auth_token() -> bool:
    """Whether a Ray cluster token is at hand (Ray's own places: the environment, ~/.ray/auth_token)."""
    if os.environ.get("RAY_AUTH_TOKEN") or os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return True
    return (Path.home() / ".ray" / "auth_token").is_file()


@dataclass
class RunOutcome:
    """Where one run of the sweep ended: ``finished`` (``kept`` when it had finished before this
    launch), ``failed`` (with the last line of its error) or ``unfinished`` (stopped, or never reached)."""

    name: str
    group: Group
    seed: int
    status: str
    metric: float | None = None
    error: str | None = None
    kept: bool = False


class _TrialDirName:
    """Tune's folder of a trial under ``OUT/tune/launch-*``: the run's (or group's) name."""

    def __init__(self, spec: SweepSpec) -> None:
        self.spec = spec

    def __call__(self, trial: Any) -> str:
        group = trial_group(self.spec, trial.config)
        seeds = trial_seeds(self.spec, trial.config)
        name = run_name(group, seeds[0]) if len(seeds) == 1 and "trial" in trial.config else group.name
        return f"{name}-{trial.trial_id}"[:200]


def _progress_callback(spec: SweepSpec, out: Path) -> Any:
    from ray.tune import Callback

    class Progress(Callback):
        """One line per trial event, in place of Tune's tables and tracebacks."""

        def _name(self, trial: Any) -> str:
            group = trial_group(spec, trial.config)
            seeds = trial_seeds(spec, trial.config)
            return run_name(group, seeds[0]) if "trial" in trial.config else f"{group.name} (seeds {spec.seeds})"

        def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            print(f"started   {self._name(trial)}", flush=True)

        def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            value = (trial.last_result or {}).get(spec.metric)
            shown = f"{spec.metric} {value:.4g}" if isinstance(value, (int, float)) else "no result"
            print(f"finished  {self._name(trial)}: {shown}", flush=True)

        def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            print(f"retrying  {self._name(trial)} from its newest checkpoint: {_error_text(spec, out, trial)}", flush=True)

        def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
            print(f"failed    {self._name(trial)}: {_error_text(spec, out, trial)}", flush=True)

    return Progress()


def _error_text(spec: SweepSpec, out: Path, trial: Any) -> str:
    """The last line of the trial's recorded traceback (``Type: message``), else Tune's first line."""
    group = trial_group(spec, trial.config)
    for seed in trial_seeds(spec, trial.config):
        line = last_error_line(out, run_name(group, seed))
        if line:
            return line
    error = getattr(trial, "error_message", None) or "the trial's worker died"
    return str(error).strip().splitlines()[0][:300]


def _outcomes(spec: SweepSpec, out: Path, groups: list[Group], kept: set[str], tune_errors: dict[str, str]) -> list[RunOutcome]:
    """Every run of ``groups`` as it stands on disk now."""
    outcomes = []
    for group in groups:
        for seed in spec.seeds:
            name, path = run_name(group, seed), run_dir(out, group, seed)
            outcome = RunOutcome(name, group, seed, "unfinished", kept=name in kept)
            if run_state(path) == "finished":
                outcome.status, outcome.metric = "finished", metric_value(load_adaptation(path), spec.metric)
            elif last_error_line(out, name) or name in tune_errors or group.name in tune_errors:
                error = last_error_line(out, name) or tune_errors.get(name) or tune_errors[group.name]
                outcome.status, outcome.error = "failed", error
            outcomes.append(outcome)
    return outcomes


def run_sweep(spec: SweepSpec, out: str | os.PathLike, *, address: str | None = None, num_cpus: int | None = None) -> list[RunOutcome]:
    """Run (or continue) the sweep saved in ``out`` on Ray Tune; returns every run's outcome.

    Runs already finished are kept without scheduling them; the others are launched as Tune trials
    (module docstring), ``spec.cpus_per_trial`` CPUs and ``spec.gpus_per_trial`` GPUs each.
    """
    out = Path(out).resolve()
    if spec.search == "grid":
        groups = grid_groups(spec)
        points = [(g, s) for g in groups for s in spec.seeds]
        kept = {run_name(g, s) for g, s in points if run_state(run_dir(out, g, s)) == "finished"}
        pending = [{"params": g.params, "seed": s} for g, s in points if run_name(g, s) not in kept]
        param_space: dict[str, Any] = {}  # the grid of pending points is made in _fit
        searcher, samples = None, 1
    else:
        plan = plan_search(spec, out)
        kept = {run_name(g, s) for g in plan.finished for s in spec.seeds}
        pending = list(range(plan.launch))
        param_space, searcher, samples = {}, plan.searcher, plan.launch
    if kept:
        print(f"kept {len(kept)} finished run(s); {'launching' if pending else 'nothing left to run'}", flush=True)
    tune_errors: dict[str, str] = {}
    if pending:
        with ray_session(address, num_cpus):
            tune_errors = _fit(spec, out, param_space, pending, searcher, samples)
    groups = grid_groups(spec) if spec.search == "grid" else groups_on_disk(spec, out)
    return _outcomes(spec, out, groups, kept, tune_errors)


def _fit(spec: SweepSpec, out: Path, param_space: dict[str, Any], pending: list, searcher: Any, samples: int) -> dict[str, str]:
    """Run the pending trials with a Tuner; returns Tune's error per failed trial (by run or group name)."""
    from ray import tune

    limit_pending = searcher is not None and _PENDING_LIMIT not in os.environ
    if searcher is None:
        param_space = {"trial": tune.grid_search(pending)}
    elif limit_pending:
        # Tune lets a searcher keep one trial pending at a time; as many as fit run side by side.
        import ray

        slots = int(ray.cluster_resources().get("CPU", 1) // spec.cpus_per_trial)
        os.environ[_PENDING_LIMIT] = str(max(1, slots))
    resources = {"cpu": spec.cpus_per_trial, "gpu": spec.gpus_per_trial}
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(trainable, out=str(out)), resources),
        param_space=param_space,
        tune_config=tune.TuneConfig(
            search_alg=searcher, num_samples=samples, trial_dirname_creator=_TrialDirName(spec), reuse_actors=True
        ),
        run_config=tune.RunConfig(
            name=f"launch-{datetime.now().strftime('%Y%m%d-%H%M%S')}",
            storage_path=str(out / TUNE_DIR),
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            callbacks=[_progress_callback(spec, out)],
            verbose=0,
            # No log_to_file: Ray's stdout wrapper for it has no isatty, which the runner's progress reads.
        ),
    )
    tune_logger = logging.getLogger("ray.tune")
    level = tune_logger.level
    tune_logger.setLevel(logging.CRITICAL)  # tracebacks: the progress lines name each error, OUT/errors holds them
    try:
        results = tuner.fit()
    finally:
        tune_logger.setLevel(level)
        if limit_pending:
            os.environ.pop(_PENDING_LIMIT, None)  # this sweep's setting, not the next one's
    errors = {}
    for result in results:
        if result.error is not None:
            group = trial_group(spec, result.config)
            seeds = trial_seeds(spec, result.config)
            name = run_name(group, seeds[0]) if "trial" in result.config else group.name
            errors[name] = (str(result.error).strip().splitlines() or ["error"])[0][:300]
    return errors
