"""The single-env face of a task-distributed family: a ``gymnasium.Env`` that holds one task."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from metarl.core.tasks import (
    TASK_SPLITS,
    Task,
    check_task_space,
    stack_task_list,
    unstack_tasks,
    validate_task,
    validate_task_batch,
)

Split = Literal["train", "test", "ood"]
Distribution = Literal["train", "ood"]

# Fixed seeds of the task sets: the same sets on every machine and in every run.
TASK_SET_SEEDS: dict[str, int] = {"train": 1_000, "test": 2_000, "ood": 3_000}


class MetaEnv(gym.Env):
    """Base class of a task-distributed environment (one task at a time).

    Subclasses declare, at class level, ``task_space`` (a ``spaces.Dict``, as a class attribute or
    a property of constructor arguments) and implement ``_sample_task_batch`` (the training
    distribution and, where ``has_ood``, the out-of-distribution one) and ``_apply_task``.
    Constraints a task space cannot express go in ``_check_task_batch`` (vectorised over a batch;
    preferred, since the batched faces validate millions of tasks at once) or ``_check_task``
    (one task; then a batch is checked task by task).

    The task is part of the environment, never changed by ``reset`` unless asked for: pass
    ``task=`` to the constructor (or ``gymnasium.make``), call ``set_task``, or call
    ``reset(options={"task": ...})``. Without one, the env starts on the first training task.
    """

    task_space: spaces.Dict
    #: Whether the family has an out-of-distribution task set for extrapolation curves.
    has_ood: ClassVar[bool] = False
    #: Sizes of the fixed task sets (ignored by families that enumerate all their tasks).
    num_train_tasks: ClassVar[int] = 100
    num_test_tasks: ClassVar[int] = 30
    num_ood_tasks: ClassVar[int] = 30
    #: Episodes per meta-RL trial in the family's reference setting.
    trial_episodes: ClassVar[int] = 2
    #: One-line name of the reference definition, shown by ``metarl envs``.
    reference: ClassVar[str] = ""
    #: Numeric per-step ``info`` entries (e.g. ``"success"``) that the batched faces pass through
    #: as float64 tensors ``info[key]`` of shape ``(num_envs,)``, and evaluation records.
    info_keys: ClassVar[tuple[str, ...]] = ()
    #: Episodes after the ``trial_episodes`` adaptation ones in which an evaluation measures
    #: success (Meta-World's protocol); 0 where the adaptation curve is the whole evaluation.
    evaluation_episodes: ClassVar[int] = 0

    _task: Task

    def _init_task(self, task: Mapping[str, Any] | None) -> None:
        """Validate the task space and set the initial task; call at the end of ``__init__``."""
        check_task_space(self.task_space, type(self).__name__)
        self.set_task(self.task_set("train")[0] if task is None else task)

    # ----- task distribution -------------------------------------------------------------------
    @abstractmethod
    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: Distribution) -> dict[str, np.ndarray]:
        """Draw ``n`` tasks as a dict of arrays with leading dimension ``n``."""

    #: Families whose episode is not an ``AnalyticEnv`` state or a gymnasium ``MujocoEnv``'s MjData
    #: may define ``episode_state() -> dict`` (numpy arrays and plain values) and
    #: ``load_episode_state(state)`` (on the same task, set first), so training that stops
    #: mid-episode (Stable-Baselines3's) resumes exactly; Meta-World's families do.

    def task_group(self, task: Task) -> str | None:
        """The group a task belongs to in reports (Meta-World: its class), or ``None``."""
        return None

    def enumerate_tasks(self) -> list[Task] | None:
        """All tasks of a family that has only a few (then train = test = all), else ``None``."""
        return None

    def _check_task(self, task: Task) -> None:
        """Constraints beyond the task space on one task (override to add them); raise ``ValueError``.

        Prefer overriding ``_check_task_batch``: this one is called once per task of a batch.
        """

    def _check_task_batch(self, batch: dict[str, np.ndarray]) -> None:
        """Constraints beyond the task space on a validated batch (dict of arrays, leading task
        dim); raise ``ValueError`` naming the parameter, value, task index and what is allowed
        (``metarl.core.tasks.param_error``). The default applies ``_check_task`` to each task, and only
        for families that override it, so a family without extra constraints costs nothing."""
        if type(self)._check_task is MetaEnv._check_task:
            return
        n = len(next(iter(batch.values())))
        for i in range(n):
            try:
                self._check_task({k: v[i] for k, v in batch.items()})
            except ValueError as err:
                if n == 1:
                    raise
                raise ValueError(f"task {i} of the batch: {err}") from None

    @abstractmethod
    def _apply_task(self, task: Task) -> None:
        """Make the simulation use ``task`` (already validated)."""

    def sample_tasks(self, n: int, seed: int | None = None, distribution: Distribution = "train") -> list[Task]:
        """Draw ``n`` tasks from the training (or ``"ood"``) distribution.

        With ``seed`` the draw is reproducible; without it, fresh entropy is used, so sampling
        tasks never disturbs the episode RNG of the env.
        """
        return unstack_tasks(self.sample_task_batch(n, seed, distribution))

    def sample_task_batch(
        self, n: int, seed: int | None = None, distribution: Distribution = "train"
    ) -> dict[str, np.ndarray]:
        """As ``sample_tasks``, as one validated batch (a dict of arrays with leading dim ``n``)."""
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"n must be a positive integer, got {n!r}")
        if distribution not in ("train", "ood"):
            raise ValueError(f"distribution must be 'train' or 'ood', got {distribution!r}")
        if distribution == "ood" and not self.has_ood:
            raise ValueError(f"{type(self).__name__} has no out-of-distribution tasks; allowed: 'train'")
        return self.validate_task_batch(self._sample_task_batch(np.random.default_rng(seed), int(n), distribution))

    def task_set(self, split: Split) -> list[Task]:
        """The fixed, seeded task set ``split`` (``"train"``, ``"test"`` or ``"ood"``)."""
        return unstack_tasks(self.task_set_batch(split))

    def task_set_batch(self, split: Split) -> dict[str, np.ndarray]:
        """The task set ``split`` as one validated batch (a dict of arrays, leading dim = set size)."""
        if split not in TASK_SPLITS:
            raise ValueError(f"unknown task split {split!r}; allowed: {list(self.available_splits())}")
        every = self.enumerate_tasks()
        if every is not None and split in ("train", "test"):
            return self.validate_task_batch(stack_task_list(every, self.task_space))
        if split == "ood":
            if not self.has_ood:
                raise ValueError(
                    f"{type(self).__name__} has no 'ood' task set; allowed: {list(self.available_splits())}"
                )
            return self.sample_task_batch(self.num_ood_tasks, TASK_SET_SEEDS["ood"], "ood")
        size = self.num_train_tasks if split == "train" else self.num_test_tasks
        return self.sample_task_batch(size, TASK_SET_SEEDS[split], "train")

    def task_set_size(self, split: Split) -> int:
        """The number of tasks of ``task_set(split)`` (families whose sets are costly to build
        say it without building them)."""
        return len(next(iter(self.task_set_batch(split).values())))

    def available_splits(self) -> tuple[str, ...]:
        """The task splits this family provides."""
        return TASK_SPLITS if self.has_ood else TASK_SPLITS[:2]

    # ----- the current task ----------------------------------------------------------------------
    def validate_task(self, task: Mapping[str, Any]) -> Task:
        """``task`` checked against the task space, as numpy arrays; ``ValueError`` if invalid."""
        return validate_task(task, self.task_space, lambda t: self._check_task_batch({k: v[None] for k, v in t.items()}))

    def validate_task_batch(self, batch: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """A batch of tasks (dict of arrays/tensors, leading task dim) checked against the task space
        and the family's constraints in one vectorised pass, as numpy arrays; ``ValueError`` naming
        the parameter, value, task index and allowed range if any task is invalid."""
        return validate_task_batch(batch, self.task_space, self._check_task_batch)

    def set_task(self, task: Mapping[str, Any]) -> None:
        """Switch to ``task`` from the next step on (the usual meta-RL call before a reset)."""
        valid = self.validate_task(task)
        self._apply_task(valid)
        self._task = valid

    def get_task(self) -> Task:
        """A copy of the current task."""
        return {k: v.copy() for k, v in self._task.items()}

    def _reset_task_option(self, options: dict[str, Any] | None) -> None:
        """Apply ``options["task"]`` if given; call at the start of ``reset``.

        Other keys are left to the caller (gymnasium's convention for a single env's options).
        """
        if options is None:
            return
        if not isinstance(options, Mapping):
            raise TypeError(
                f"reset options must be a dict or None, got {type(options).__name__} ({options!r}); "
                "allowed: None or a dict such as {'task': {...}}"
            )
        if options.get("task") is not None:
            self.set_task(options["task"])

