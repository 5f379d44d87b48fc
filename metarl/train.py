"""``metarl train``: the training loop every agent shares (runs, logging, checkpoints, evaluation).

An agent plugs in with ``register_agent(name, config_type, make_trainer)``. ``make_trainer(cfg,
device)`` returns a ``Trainer``: it advances training by one iteration at a time, exposes the
adapting ``agent`` for evaluation and round-trips its whole state through ``state_dict``.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import gymnasium as gym
import numpy as np
import torch

from .agent import Agent
from .config import RunConfig, register_agent_config
from .evaluation import AdaptationResult, evaluate_adaptation, write_adaptation
from .logger import Logger, Progress
from .runs import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from .tasks import Task, stack_tasks
from .vector import TaskVectorEnv, resolve_device


class Trainer(Protocol):
    """What the shared loop needs from an agent's training code."""

    agent: Agent
    env_steps: int
    episode_returns: list[float]

    def train_iteration(self) -> dict[str, float]:
        """Collect data and update; returns metrics keyed by TensorBoard tag."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training (tensors and plain values only)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict`` output."""


TrainerFactory = Callable[[RunConfig, torch.device], Trainer]
_TRAINERS: dict[str, TrainerFactory] = {}


def register_agent(name: str, config_type: type, make_trainer: TrainerFactory) -> None:
    """Make agent ``name`` trainable with ``metarl train``: its config section is ``config_type``."""
    register_agent_config(name, config_type)
    _TRAINERS[name] = make_trainer


def make_trainer(cfg: RunConfig, device: torch.device) -> Trainer:
    """The trainer of ``cfg.agent`` (agents register when ``metarl.agents`` is imported)."""
    if cfg.agent not in _TRAINERS:
        import metarl.agents  # noqa: F401  (registers the built-in agents)
    if cfg.agent not in _TRAINERS:
        raise ValueError(f"agent {cfg.agent!r} is not registered; registered: {sorted(_TRAINERS)}")
    return _TRAINERS[cfg.agent](cfg, device)


def make_training_env(cfg: RunConfig, num_envs: int, device: torch.device, **make_vec_kwargs: Any) -> gym.vector.VectorEnv:
    """The batched env an agent trains on: ``num_envs`` sub-envs of ``cfg.env`` stepping together
    on ``device`` (``make_vec_kwargs``, e.g. ``autoreset_mode``, go to ``gymnasium.make_vec``)."""
    return gym.make_vec(
        cfg.env.id, num_envs=num_envs, vectorization_mode="vector_entry_point", device=device,
        **make_vec_kwargs, **cfg.env.kwargs,
    )  # fmt: skip


#: Where an on-policy trainer draws each iteration's tasks from: fresh draws from the family's
#: training distribution, or uniform draws (with replacement) from its fixed training task set.
TrainingTaskSource = Literal["distribution", "train_set"]
TRAINING_TASK_SOURCES: tuple[str, ...] = get_args(TrainingTaskSource)


class TrainingTasks:
    """Draws one training task per sub-env of ``env`` from ``source`` (see ``TRAINING_TASK_SOURCES``)
    with ``generator``; the training set is stacked once, so a draw is one indexing per parameter."""

    def __init__(self, env: TaskVectorEnv, source: TrainingTaskSource, generator: torch.Generator) -> None:
        if source not in TRAINING_TASK_SOURCES:
            raise ValueError(f"task_source {source!r} is not allowed; allowed: {', '.join(TRAINING_TASK_SOURCES)}")
        self.env, self.generator = env, generator
        self.train_set = stack_tasks(env.task_set("train")) if source == "train_set" else None

    def draw(self) -> list[Task] | dict[str, np.ndarray]:
        """``env.num_envs`` tasks, ready for ``env.set_tasks``."""
        n, device = self.env.num_envs, self.generator.device
        if self.train_set is None:
            return self.env.sample_tasks(n, seed=int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator, device=device)))
        size = len(next(iter(self.train_set.values())))
        index = torch.randint(0, size, (n,), generator=self.generator, device=device).cpu().numpy()
        return {name: values[index] for name, values in self.train_set.items()}


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (the envs and agents seed their own generators from ``seed``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def evaluate_run(cfg: RunConfig, trainer: Trainer, run_dir: Path, logger: Logger | None, **overrides: Any) -> AdaptationResult:
    """The adaptation curve of ``trainer.agent`` on the held-out tasks, written into ``run_dir``."""
    result = evaluate_adaptation(
        trainer.agent,
        cfg.env.id,
        split=overrides.get("split", cfg.eval.split),
        episodes=overrides.get("episodes", cfg.eval.episodes),
        seed=cfg.seed,
        device=str(resolve_device(cfg.device)),
        env_kwargs=cfg.env.kwargs,
    )
    write_adaptation(result, run_dir, writer=logger.writer if logger else None, step=trainer.env_steps)
    return result


def train(cfg: RunConfig, run_dir: Path, resume: bool = False, checkpoint: dict[str, Any] | None = None) -> Trainer:
    """Train ``cfg`` in ``run_dir`` (continuing from its last checkpoint when ``resume``).

    ``checkpoint``: that checkpoint when the caller has already read it (``resume_run``), so a
    large one (replay data) is not read twice.
    """
    device = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    trainer = make_trainer(cfg, device)
    resume_step = None
    earlier_seconds: float | None = 0.0
    if resume:
        checkpoint = checkpoint if checkpoint is not None else load_checkpoint(run_dir, cfg)
        trainer.load_state_dict(checkpoint["state"]["trainer"])
        set_rng_state(checkpoint["state"]["rng"])
        resume_step = checkpoint["step"]
        # Checkpoints written before metarl counted training time lack it: the run's total stays unknown.
        earlier_seconds = checkpoint["state"].get("train_seconds")
    start = time.perf_counter()

    def train_seconds() -> float | None:
        """Wall-clock spent training this run up to now, summed over its sessions (pauses between
        a stop and ``--resume`` left out), or None when an earlier session did not count it."""
        return None if earlier_seconds is None else earlier_seconds + time.perf_counter() - start

    def save(step: int) -> None:
        state = {"trainer": trainer.state_dict(), "rng": rng_state(), "train_seconds": train_seconds()}
        save_checkpoint(run_dir, state, step, cfg)

    def log_train_seconds(logger: Logger, step: int) -> None:
        if (seconds_so_far := train_seconds()) is not None:
            logger.scalar("perf/train_seconds", seconds_so_far, step)

    seconds = 60 * cfg.train.max_minutes if cfg.train.max_minutes is not None else None
    progress = Progress(cfg.train.total_steps, initial=trainer.env_steps, seconds=seconds)
    with Logger(run_dir, resume_step=resume_step) as logger, progress:
        next_log = trainer.env_steps + cfg.train.log_every
        next_checkpoint = trainer.env_steps + cfg.train.checkpoint_every
        every = cfg.eval.every_steps
        next_eval = trainer.env_steps + every if every else None
        start_steps, seen = trainer.env_steps, len(trainer.episode_returns)
        deadline = start + seconds if seconds is not None else float("inf")
        while trainer.env_steps < cfg.train.total_steps and time.perf_counter() < deadline:
            metrics = trainer.train_iteration()
            step = trainer.env_steps
            new_returns = trainer.episode_returns[seen:]
            seen = len(trainer.episode_returns)
            if step >= next_log:
                logger.scalars(metrics, step)
                if new_returns:
                    logger.scalar("charts/episodic_return", float(np.mean(new_returns)), step)
                logger.scalar("perf/steps_per_second", (step - start_steps) / (time.perf_counter() - start), step)
                log_train_seconds(logger, step)
                next_log = step + cfg.train.log_every
            progress.update(step, **({"ret": float(np.mean(new_returns))} if new_returns else {}))
            if step >= next_checkpoint:
                save(step)
                next_checkpoint = step + cfg.train.checkpoint_every
            if next_eval is not None and step >= next_eval:
                log_train_seconds(logger, step)
                evaluate_run(cfg, trainer, run_dir, logger)
                next_eval = step + every
        save(trainer.env_steps)
        log_train_seconds(logger, trainer.env_steps)
        evaluate_run(cfg, trainer, run_dir, logger)
    return trainer
