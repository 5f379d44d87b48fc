"""``metarl train``: the training loop every agent shares (runs, logging, checkpoints, evaluation).

An agent plugs in with ``metarl.common.agent_registry.register_agent(name, config_type,
make_trainer)``. ``make_trainer(cfg, device)`` returns a ``Trainer`` (``metarl.common.protocol``):
it advances training by one iteration at a time, exposes the adapting ``agent`` for evaluation
and round-trips its whole state through ``state_dict``.
"""

from __future__ import annotations

import random
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch

from metarl.common.agent_registry import trainer_factory
from metarl.common.config import RunConfig
from metarl.common.protocol import Trainer
from metarl.common.state import HISTORY
from metarl.core.vector import resolve_device
from metarl.report.adaptation import SummaryWriterLike, write_adaptation
from metarl.report.results import EVAL_DIR, AdaptationResult
from metarl.runner.evaluation import evaluate_adaptation
from metarl.runner.lock import run_lock
from metarl.runner.logger import Logger, Progress
from metarl.runner.references import reference_returns
from metarl.runner.rng import rng_state, set_rng_state
from metarl.runner.runs import CheckpointError, evaluated_at_checkpoint, load_checkpoint, save_checkpoint
from metarl.runner.threads import set_threads


def make_trainer(cfg: RunConfig, device: torch.device) -> Trainer:
    """The trainer of ``cfg.agent`` (``metarl.common.agent_registry``), built right after seeding
    the global generators with ``cfg.seed``, so its initial weights are the seed's wherever it is built."""
    factory = trainer_factory(cfg.agent)
    seed_everything(cfg.seed)
    return factory(cfg, device)


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (the envs and agents seed their own generators from ``seed``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate_run(
    cfg: RunConfig,
    trainer: Trainer,
    run_dir: Path,
    writer: SummaryWriterLike | None,
    *,
    folder: str = EVAL_DIR,
    split: str | None = None,
    episodes: int | None = None,
    with_references: bool = False,
    evaluation_episodes: int | None = None,
) -> AdaptationResult:
    """The adaptation curve of ``trainer.agent`` on held-out tasks (``split`` and ``episodes``
    default to the config's ``eval`` section), written into ``run_dir / folder`` and, with a
    ``writer``, to TensorBoard at ``trainer.env_steps``.

    ``evaluation_episodes``: Meta-World's evaluation phase (default: the config's, else the
    family's; see ``evaluate_adaptation``). ``with_references``: also score a random policy (and the family's known-task optimum where
    it defines one) on the same tasks, recorded beside the curve (``metarl.runner.references``).

    The global random generators are left as they were, so evaluating (or not, or more often)
    never changes what training does next.
    """
    split, episodes = split or cfg.eval.split, episodes or cfg.eval.episodes
    device = str(resolve_device(cfg.device))
    saved = rng_state()
    try:
        result = evaluate_adaptation(
            trainer.agent, cfg.env.id, split=split, episodes=episodes, seed=cfg.seed, device=device,
            env_kwargs=cfg.env.kwargs,
            evaluation_episodes=cfg.eval.evaluation_episodes if evaluation_episodes is None else evaluation_episodes,
        )  # fmt: skip
        if with_references:  # the same tasks, seed and env options as the curve
            result.references = reference_returns(cfg.env.id, split, episodes, cfg.seed, cfg.env.kwargs, device)
    finally:
        set_rng_state(saved)
    write_adaptation(result, run_dir, writer=writer, step=trainer.env_steps, folder=folder, references=result.references)
    return result


def restore_trainer(trainer: Trainer, checkpoint: dict[str, Any]) -> None:
    """Load a checkpoint's trainer state; a state that does not fit this trainer (another
    version's layout, a damaged field) is a :class:`CheckpointError` naming the file."""
    try:
        trainer.load_state_dict(checkpoint["state"]["trainer"])
    except (KeyError, IndexError, RuntimeError, TypeError, ValueError) as e:
        reason = (str(e).strip().splitlines() or [""])[0][:300]
        raise CheckpointError(
            f"checkpoint {checkpoint.get('path', '?')!r} does not fit this {type(trainer).__name__} "
            f"({type(e).__name__}: {reason})"
        ) from None


class Schedule:
    """Fires at the first step at or past each multiple of ``every``, counted from step 0, so a run
    resumed from any checkpoint fires at the same steps as one that was never interrupted."""

    def __init__(self, every: int | None, step: int) -> None:
        self.every = every
        self.next = self._after(step)

    def _after(self, step: int) -> float:
        return float("inf") if self.every is None else (step // self.every + 1) * self.every

    def due(self, step: int) -> bool:
        """Whether it fires at ``step`` (and if so, move on to the next multiple)."""
        if step < self.next:
            return False
        self.next = self._after(step)
        return True


class TrainingStopped(KeyboardInterrupt):
    """Training stopped on a signal (Ctrl-C's SIGINT, or SIGTERM) after writing a checkpoint at
    ``step``: ``metarl train --resume run_dir`` continues it with nothing lost."""

    def __init__(self, signum: int, step: int, run_dir: Path) -> None:
        super().__init__(
            f"stopped by {signal.Signals(signum).name} at {step} env steps with a checkpoint; "
            f"continue with: metarl train --resume {run_dir}"
        )
        self.signum, self.step, self.run_dir = signum, step, run_dir


@contextmanager
def stop_on_signal() -> Iterator[list[int]]:
    """Turn the first SIGINT (Ctrl-C) or SIGTERM into a request to stop after the current
    iteration with a checkpoint: the yielded list then holds the signal's number. A second signal
    interrupts at once. Outside the main thread (where signals cannot be caught) nothing changes."""
    received: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield received
        return

    def request_stop(signum: int, frame: object) -> None:
        if received:
            raise KeyboardInterrupt
        received.append(signum)
        print("\nstopping after this iteration with a checkpoint (Ctrl-C again to stop at once)", flush=True)

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def train(
    cfg: RunConfig,
    run_dir: Path,
    resume: bool = False,
    checkpoint: dict[str, Any] | None = None,
    trainer: Trainer | None = None,
    quiet: bool = False,
) -> Trainer:
    """Train ``cfg`` in ``run_dir`` (continuing from a checkpoint when ``resume``).

    ``checkpoint``: the checkpoint to continue from when the caller has already read it
    (``resume_run``), so a large one (replay data) is not read twice; with ``resume`` and none,
    the run's newest intact checkpoint. ``trainer``: a fresh trainer for ``cfg`` built by the
    caller (e.g. to find config errors before making the run directory). ``quiet``: no progress
    output (see :class:`metarl.runner.logger.Progress`).

    Logging, periodic evaluation and checkpoints follow absolute schedules (multiples of their
    period), and everything due at a step is done before that step's checkpoint, so a run resumed
    from any checkpoint logs, evaluates and checkpoints exactly as an uninterrupted one. Each
    session ends with an evaluation and a checkpoint: at ``train.total_steps`` or when
    ``train.max_minutes`` runs out. On Ctrl-C or SIGTERM it ends after the current iteration with
    a checkpoint and raises :class:`TrainingStopped`. Resuming a finished run does nothing.
    """
    with run_lock(run_dir):
        return _train(cfg, Path(run_dir), resume, checkpoint, trainer, quiet)


def _train(
    cfg: RunConfig, run_dir: Path, resume: bool, checkpoint: dict[str, Any] | None, trainer: Trainer | None, quiet: bool
) -> Trainer:
    device = resolve_device(cfg.device)
    trainer = trainer if trainer is not None else make_trainer(cfg, device)
    set_threads(cfg.train.threads, trainer, device)
    resume_step = None
    earlier_seconds: float | None = 0.0
    if resume and checkpoint is None:
        checkpoint = load_checkpoint(run_dir, cfg)
    if checkpoint is not None:
        restore_trainer(trainer, checkpoint)
        set_rng_state(checkpoint["state"]["rng"])
        resume_step = checkpoint["step"]
        # Checkpoints written before metarl counted training time lack it: the run's total stays unknown.
        earlier_seconds = checkpoint["state"].get("train_seconds")
    if trainer.env_steps >= cfg.train.total_steps:
        if resume_step is not None and not evaluated_at_checkpoint(run_dir):
            # Finished, but its final evaluation raised after the checkpoint was kept: redo it.
            with Logger(run_dir) as logger:
                evaluate_run(cfg, trainer, run_dir, logger.writer, with_references=True)
        return trainer  # finished: its final evaluation and checkpoint are on disk
    start = time.perf_counter()

    def train_seconds() -> float | None:
        """Wall-clock spent training this run up to now, summed over its sessions (pauses between
        a stop and ``--resume`` left out), or None when an earlier session did not count it."""
        return None if earlier_seconds is None else earlier_seconds + time.perf_counter() - start

    seconds = 60 * cfg.train.max_minutes if cfg.train.max_minutes is not None else None
    deadline = start + seconds if seconds is not None else float("inf")
    progress = Progress(cfg.train.total_steps, initial=trainer.env_steps, seconds=seconds, quiet=quiet)
    start_steps, seen = trainer.env_steps, len(trainer.episode_returns)
    log_due = Schedule(cfg.train.log_every, start_steps)
    checkpoint_due = Schedule(cfg.train.checkpoint_every, start_steps)
    eval_due = Schedule(cfg.eval.every_steps, start_steps)
    with Logger(run_dir, resume_step=resume_step) as logger, progress, stop_on_signal() as stop:

        def checkpoint() -> None:  # at the current `step`
            logger.flush()
            state = {"trainer": trainer.state_dict(), "rng": rng_state(), "train_seconds": train_seconds()}
            save_checkpoint(run_dir, state, step, cfg)

        while True:
            metrics = trainer.train_iteration()
            step = trainer.env_steps
            new_returns = trainer.episode_returns[seen:]
            del trainer.episode_returns[:-HISTORY]  # read: memory stays bounded however many episodes end
            seen = len(trainer.episode_returns)
            last = step >= cfg.train.total_steps or time.perf_counter() >= deadline
            logged, evaluated = log_due.due(step), eval_due.due(step) or last
            if logged:
                logger.scalars(metrics, step)
                if new_returns:
                    logger.scalar("charts/episodic_return", float(np.mean(new_returns)), step)
                logger.scalar("perf/steps_per_second", (step - start_steps) / (time.perf_counter() - start), step)
            if (logged or evaluated) and (seconds_so_far := train_seconds()) is not None:
                logger.scalar("perf/train_seconds", seconds_so_far, step)
            progress.update(step, **({"ret": float(np.mean(new_returns))} if new_returns else {}))
            if evaluated:
                try:
                    evaluate_run(cfg, trainer, run_dir, logger.writer, with_references=last)
                except Exception:
                    checkpoint()  # the training is kept; `metarl evaluate` redoes the evaluation
                    raise
            if checkpoint_due.due(step) or last or stop:
                # After this step's logs and evaluation (flushed), so resuming from it redoes none of them.
                checkpoint()
            if last or stop:
                break
    if stop:
        raise TrainingStopped(stop[0], trainer.env_steps, run_dir)
    return trainer
