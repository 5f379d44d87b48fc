"""The batched env an agent trains on, and where each iteration's training tasks come from."""

from __future__ import annotations

from typing import Any, Literal, get_args

import gymnasium as gym
import numpy as np
import torch

from metarl.common.config import RunConfig
from metarl.core.tasks import Task, stack_tasks
from metarl.core.vector import TaskVectorEnv


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
