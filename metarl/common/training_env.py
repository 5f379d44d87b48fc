"""The batched env an agent trains on, and where each iteration's training tasks come from."""

from __future__ import annotations

from typing import Any, Literal, get_args

import gymnasium as gym
import torch

from metarl.common.config import RunConfig
from metarl.common.trials import draw_seed
from metarl.core.tasks import TaskBatch
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
    with ``generator``, as one validated ``TaskBatch`` on the env's device: the training set is
    stacked and checked once, so a draw is one indexing per parameter."""

    def __init__(self, env: TaskVectorEnv, source: TrainingTaskSource, generator: torch.Generator) -> None:
        if source not in TRAINING_TASK_SOURCES:
            raise ValueError(f"task_source {source!r} is not allowed; allowed: {', '.join(TRAINING_TASK_SOURCES)}")
        self.env, self.generator = env, generator
        self.train_set = env.task_set_batch("train") if source == "train_set" else None

    def draw(self) -> TaskBatch:
        """``env.num_envs`` tasks, ready for ``env.set_tasks``."""
        n, device = self.env.num_envs, self.generator.device
        if self.train_set is None:
            seed = draw_seed(self.generator)
            return self.env.sample_task_batch(n, seed=seed)
        return self.train_set.select(torch.randint(0, self.train_set.n, (n,), generator=self.generator, device=device))
