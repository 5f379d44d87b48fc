"""The SB3 adapter: an SB3 model behind the adaptation interface (``begin_task`` / ``act`` /
``observe`` / ``end_episode``), and its state for recurrent models."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecNormalize
from torch import Tensor

from metarl.common.protocol import Transition
from metarl.common.trials import trial_input
from metarl.core.meta_env import MetaEnv
from metarl.core.tasks import TaskBatch
from metarl.core.wrappers import task_features


@dataclass
class SB3State:
    """Adaptation state of a recurrent model: LSTM ``(h, c)`` arrays ``(layers, n, hidden)``,
    whether the next step starts a sequence (SB3 zeroes the LSTM there), and for RL^2 trials the
    previous action, reward and done flag. ``pending`` is the LSTM state ``act`` computed, until
    ``observe`` commits it for the rows whose step was valid."""

    lstm: tuple[np.ndarray, np.ndarray]
    starts: np.ndarray
    prev_action: Tensor | None = None
    prev_reward: Tensor | None = None
    prev_done: Tensor | None = None
    pending: tuple[np.ndarray, np.ndarray] | None = None


class SB3Agent:
    """An SB3 model behind the adaptation interface (batched torch in, batched torch out).

    The observation the model was trained on is rebuilt from the evaluation's tensors: the
    trial input (``trial``), the task features (``TaskAware`` subclass) and ``normalizer``'s
    statistics. A recurrent model keeps its LSTM state within an episode; with ``trial`` also
    across the episodes of an adaptation, as in training.
    """

    def __init__(
        self, model: BaseAlgorithm, family: MetaEnv, trial: bool = False, normalizer: VecNormalize | None = None,
        name: str = "sb3",
    ) -> None:  # fmt: skip
        self.model = model
        self.action_space = family.action_space
        self.task_space = family.task_space
        self.trial = trial
        self.normalizer = normalizer
        self.recurrent = isinstance(model, RecurrentPPO)
        self.name = name

    def begin_task(self, n_tasks: int) -> SB3State | None:
        """Zero LSTM state and previous step for a recurrent model; no state otherwise."""
        if not self.recurrent:
            return None
        layers, _, hidden = self.model.policy.lstm_hidden_state_shape
        zeros = np.zeros((layers, n_tasks, hidden), dtype=np.float32)
        state = SB3State((zeros, zeros.copy()), np.ones(n_tasks, dtype=bool))
        if self.trial:
            if isinstance(self.action_space, spaces.Discrete):  # index 0, as TrialWrapper's first step
                state.prev_action = torch.full((n_tasks,), int(self.action_space.start), dtype=torch.int64)
            else:
                state.prev_action = torch.zeros((n_tasks, *self.action_space.shape))
            state.prev_reward = torch.zeros(n_tasks)
            state.prev_done = torch.zeros(n_tasks, dtype=torch.bool)
        return state

    def model_input(self, obs: Tensor, state: SB3State | None) -> np.ndarray:
        """The observation the model saw in training, as a numpy batch."""
        x = obs.flatten(1).float().cpu()
        if self.trial:
            x = trial_input(x, state.prev_action, state.prev_reward, state.prev_done, self.action_space)
        x = self._with_task(x).numpy()
        return self.normalizer.normalize_obs(x) if self.normalizer is not None else x

    def _with_task(self, x: Tensor) -> Tensor:
        return x

    def act(self, obs: Tensor, state: SB3State | None, deterministic: bool) -> tuple[Tensor, SB3State | None]:
        """``model.predict`` on the batch; a recurrent model's new LSTM state waits in ``pending``."""
        x = self.model_input(obs, state)
        if state is None:
            actions, _ = self.model.predict(x, deterministic=deterministic)
        else:
            actions, lstm = self.model.predict(x, state=state.lstm, episode_start=state.starts, deterministic=deterministic)
            state = SB3State(state.lstm, state.starts, state.prev_action, state.prev_reward, state.prev_done, lstm)
        return torch.as_tensor(actions, device=obs.device), state

    def observe(self, state: SB3State | None, transition: Transition) -> SB3State | None:
        """Commit the LSTM state (and, in trials, the previous step) of the rows whose step was valid."""
        if state is None:
            return None
        if state.pending is None:
            raise RuntimeError("observe() needs the LSTM state of act(); call act before observe")
        valid = transition.valid.cpu()
        rows = valid.numpy()
        lstm = tuple(np.where(rows[None, :, None], new, old) for new, old in zip(state.pending, state.lstm))
        starts = state.starts & ~rows
        if not self.trial:
            return SB3State(lstm, starts)

        def keep(new: Tensor, old: Tensor) -> Tensor:
            return torch.where(valid.view(-1, *([1] * (old.ndim - 1))), new.cpu().to(old.dtype), old)

        return SB3State(
            lstm, starts, keep(transition.action, state.prev_action), keep(transition.reward, state.prev_reward),
            keep(transition.done, state.prev_done),
        )  # fmt: skip

    def end_episode(self, state: SB3State | None) -> SB3State | None:
        """Outside trials, the next episode starts a new LSTM sequence (as the training episodes did)."""
        if state is None or self.trial:
            return state
        return SB3State(state.lstm, np.ones_like(state.starts))


class SB3OracleAgent(SB3Agent):
    """An SB3 model trained with the task parameters in its observation; ``TaskAware``."""

    tasks: TaskBatch | None = None

    def set_tasks(self, tasks: TaskBatch) -> None:
        """Remember the tasks of the next adaptation; their features are appended to every observation."""
        self.tasks = tasks

    def _with_task(self, x: Tensor) -> Tensor:
        if self.tasks is None:
            raise RuntimeError(f"{self.name} is told its tasks: call set_tasks before act (run_adaptation does)")
        features = task_features({k: v.cpu() for k, v in self.tasks.items()}, self.task_space)
        if features.shape[0] != x.shape[0]:
            raise ValueError(f"set_tasks gave {features.shape[0]} tasks for a batch of {x.shape[0]} observations")
        return torch.cat([x, features], dim=1)
