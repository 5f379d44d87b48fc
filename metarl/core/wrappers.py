"""Meta-RL mechanics as gymnasium wrappers of a family's single env, for standard RL libraries.

A family's single env (``gymnasium.make("metarl/<Name>-v0")``) holds one task until told
otherwise. These wrappers turn it into the environments that standard (non-meta) RL code
trains on, e.g. Stable-Baselines3 or sb3-contrib, unchanged:

- ``TrialWrapper``: RL^2 trials. One gymnasium episode is ``trial_episodes`` episodes of the
  inner env on one task, drawn afresh for each trial; the observation adds the previous action,
  reward and an inner-episode-done flag (``trial_observation``, the single-env numpy twin of
  ``metarl.common.trials.trial_input``, so agents compute the same layout on batches), so a
  recurrent policy (sb3-contrib's ``RecurrentPPO``) can learn to adapt within the trial.
- ``MultiTaskWrapper``: a new task at every reset, drawn from the training tasks: the
  "mixture of training tasks" a non-adaptive baseline trains on.
- ``TaskObservationWrapper``: the current task's parameters appended to the observation: the
  input of an oracle that is told the task.

Tasks are drawn by a ``TaskSampler`` (uniformly from a fixed task set, or fresh from the
family's training distribution) whose stream is seeded by ``reset(seed=...)``, so a seeded
run draws the same tasks on every machine. ``task_features`` is the one flattening of task
parameters into features, used here for single tasks and by agents for batches of tasks.
"""

from __future__ import annotations

from typing import Any, Literal, get_args

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from metarl.core.meta_env import MetaEnv
from metarl.core.spaces import action_dim
from metarl.core.tasks import Task, TaskBatch, tasks_to_tensors

#: Where wrappers draw tasks from: a fixed task set of the family (uniformly), or
#: ``"distribution"``: fresh draws from the family's training distribution.
TaskSource = Literal["train", "test", "ood", "distribution"]
TASK_SOURCES: tuple[str, ...] = get_args(TaskSource)

# Mixed with the reset seed so the task stream differs from the env's own episode stream.
_TASK_STREAM = 0x7A5C


def meta_env(env: gym.Env) -> MetaEnv:
    """The family env under ``env``'s wrappers; ``TypeError`` when ``env`` is not a task-distributed family."""
    base = env.unwrapped
    if not isinstance(base, MetaEnv):
        raise TypeError(
            f"{type(base).__name__} is not a task-distributed family (metarl.core.meta_env.MetaEnv); "
            "wrap an env made with gymnasium.make('metarl/<Name>-v0')"
        )
    return base


class TaskSampler:
    """Draws tasks of ``family`` from ``source`` (see ``TaskSource``) with its own seeded stream."""

    def __init__(self, family: MetaEnv, source: TaskSource = "train") -> None:
        if source not in TASK_SOURCES:
            raise ValueError(f"task source {source!r} is not allowed; allowed: {', '.join(TASK_SOURCES)}")
        self.family = family
        self.source = source
        self.tasks: list[Task] | None = None if source == "distribution" else family.task_set(source)
        self.rng = np.random.default_rng()

    def seed(self, seed: int) -> None:
        """Restart the task stream from ``seed``."""
        self.rng = np.random.default_rng((int(seed), _TASK_STREAM))

    def draw(self) -> Task:
        """The next task: a uniform pick from the task set, or a fresh draw from the distribution."""
        if self.tasks is not None:
            return self.tasks[int(self.rng.integers(len(self.tasks)))]
        return self.family.sample_tasks(1, seed=int(self.rng.integers(2**63)))[0]


# ----- task parameters as features -----------------------------------------------------------------
def task_features(tasks: TaskBatch, task_space: spaces.Dict) -> torch.Tensor:
    """A batch of tasks as float32 features ``(n, d)``: each parameter flattened, in the order of
    ``task_space``'s entries (integer parameters as their values)."""
    return torch.cat([tasks[name].reshape(tasks[name].shape[0], -1).float() for name in task_space.spaces], dim=1)


def task_features_space(task_space: spaces.Dict) -> spaces.Box:
    """The range of ``task_features`` for one task."""
    lows, highs = [], []
    for sub in task_space.spaces.values():
        if isinstance(sub, spaces.Box):
            low, high = sub.low, sub.high
        elif isinstance(sub, spaces.Discrete):
            low, high = np.array([sub.start]), np.array([sub.start + sub.n - 1])
        else:  # MultiDiscrete, the only other kind a task space may hold
            low, high = np.zeros(sub.shape), sub.nvec - 1
        lows.append(np.asarray(low, dtype=np.float32).reshape(-1))
        highs.append(np.asarray(high, dtype=np.float32).reshape(-1))
    return spaces.Box(np.concatenate(lows), np.concatenate(highs), dtype=np.float32)


def _flat_box(space: spaces.Space, owner: str) -> spaces.Box:
    if not isinstance(space, spaces.Box):
        raise TypeError(f"{owner} needs a Box observation space, got {space!r}")
    return spaces.Box(space.low.reshape(-1).astype(np.float32), space.high.reshape(-1).astype(np.float32))


def _concat_boxes(*boxes: spaces.Box) -> spaces.Box:
    low = np.concatenate([b.low for b in boxes]).astype(np.float32)
    high = np.concatenate([b.high for b in boxes]).astype(np.float32)
    return spaces.Box(low, high, dtype=np.float32)


class TaskObservationWrapper(gym.ObservationWrapper, gym.utils.RecordConstructorArgs):
    """Appends the current task's parameters (``task_features``) to the flattened observation.

    The oracle's input: the task is read from the family env at every observation, so it follows
    task changes made below this wrapper (``MultiTaskWrapper``, ``reset(options={"task": ...})``).
    """

    def __init__(self, env: gym.Env) -> None:
        gym.utils.RecordConstructorArgs.__init__(self)
        gym.ObservationWrapper.__init__(self, env)
        self.family = meta_env(env)
        self.observation_space = _concat_boxes(
            _flat_box(env.observation_space, type(self).__name__), task_features_space(self.family.task_space)
        )

    def observation(self, observation: np.ndarray) -> np.ndarray:
        """``[obs (flattened), task features]`` as float32."""
        features = task_features(tasks_to_tensors([self.family.get_task()]), self.family.task_space)[0].numpy()
        return np.concatenate([np.asarray(observation, dtype=np.float32).reshape(-1), features])


class MultiTaskWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """Draws a new task from ``tasks`` (a ``TaskSource``, default the training set) at every reset.

    The mixture of training tasks for a multi-task baseline. ``reset(seed=s)`` seeds the task
    stream as well as the env; ``reset(options={"task": t})`` uses ``t`` instead of a draw.
    """

    def __init__(self, env: gym.Env, tasks: TaskSource = "train") -> None:
        gym.utils.RecordConstructorArgs.__init__(self, tasks=tasks)
        gym.Wrapper.__init__(self, env)
        self.sampler = TaskSampler(meta_env(env), tasks)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict]:
        """Reset the inner env on a freshly drawn task (or ``options["task"]``)."""
        if seed is not None:
            self.sampler.seed(seed)
        options = dict(options or {})
        if options.get("task") is None:
            options["task"] = self.sampler.draw()
        return self.env.reset(seed=seed, options=options)


class TrialWrapper(gym.Wrapper, gym.utils.RecordConstructorArgs):
    """RL^2 trials: one episode of this env is ``trial_episodes`` inner episodes on one task.

    - ``reset`` draws the trial's task from ``task_distribution`` (a ``TaskSource``; the task of
      ``options["task"]`` when given) and resets the inner env on it; ``reset(seed=s)`` seeds
      both the inner env and the task stream.
    - The observation is ``metarl.common.trials.trial_input``'s layout: ``[obs (flattened),
      previous action (one-hot for Discrete), previous reward, previous done]``, with zeros
      for the previous step at the start of a trial. When an inner episode ends and the trial
      goes on, the inner env is reset on the same task and the returned observation is the new
      inner episode's first one, with the action and reward of the step that ended the
      previous episode and done 1.
    - ``terminated`` is True only on the step that ends the last inner episode (the trial is the
      episode, and nothing follows it); ``truncated`` is always False.
    - ``info`` holds the inner env's info; on a step that ends an inner episode also
      ``"inner_episode": {"r": return, "l": length, "k": index (1-based)}``, and on the last one
      ``"trial_returns"`` and ``"trial_lengths"``, arrays of the ``trial_episodes`` inner episodes.

    ``trial_episodes`` defaults to the family's ``trial_episodes``.
    """

    def __init__(
        self, env: gym.Env, trial_episodes: int | None = None, task_distribution: TaskSource = "train"
    ) -> None:
        gym.utils.RecordConstructorArgs.__init__(self, trial_episodes=trial_episodes, task_distribution=task_distribution)
        gym.Wrapper.__init__(self, env)
        family = meta_env(env)
        if trial_episodes is None:
            trial_episodes = family.trial_episodes
        if not isinstance(trial_episodes, (int, np.integer)) or isinstance(trial_episodes, bool) or trial_episodes < 1:
            raise ValueError(f"trial_episodes must be a positive integer, got {trial_episodes!r}")
        action_dim(env.action_space)  # raises for action spaces trial_input cannot encode
        self.trial_episodes = int(trial_episodes)
        self.sampler = TaskSampler(family, task_distribution)
        self.observation_space = _concat_boxes(
            _flat_box(env.observation_space, type(self).__name__),
            _action_features_space(env.action_space),
            spaces.Box(-np.inf, np.inf, (1,), np.float32),
            spaces.Box(0.0, 1.0, (1,), np.float32),
        )
        self._returns: list[float] = []
        self._lengths: list[int] = []
        self._return, self._length = 0.0, 0

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start a trial on a freshly drawn task (or ``options["task"]``)."""
        if seed is not None:
            self.sampler.seed(seed)
        options = dict(options or {})
        if options.get("task") is None:
            options["task"] = self.sampler.draw()
        obs, info = self.env.reset(seed=seed, options=options)
        self._returns, self._lengths = [], []
        self._return, self._length = 0.0, 0
        # No previous step yet: action index 0 (Discrete) or zeros, reward 0, done 0, as RL^2 agents begin a task.
        space = self.env.action_space
        no_action = space.start if isinstance(space, spaces.Discrete) else np.zeros(space.shape, dtype=np.float32)
        return trial_observation(obs, no_action, 0.0, False, space), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict]:
        """One inner step; an inner episode's end resets the inner env unless the trial is over."""
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._return += float(reward)
        self._length += 1
        inner_done = bool(terminated or truncated)
        trial_over = False
        if inner_done:
            self._returns.append(self._return)
            self._lengths.append(self._length)
            info = {**info, "inner_episode": {"r": self._return, "l": self._length, "k": len(self._returns)}}
            self._return, self._length = 0.0, 0
            trial_over = len(self._returns) == self.trial_episodes
            if trial_over:
                info["trial_returns"] = np.array(self._returns)
                info["trial_lengths"] = np.array(self._lengths)
            else:
                obs, _ = self.env.reset()
        trial_obs = trial_observation(obs, action, float(reward), inner_done, self.env.action_space)
        return trial_obs, float(reward), trial_over, False, info


def trial_observation(obs: Any, action: Any, reward: float, done: bool, action_space: spaces.Space) -> np.ndarray:
    """``metarl.common.trials.trial_input`` for one env in numpy (float32): ``[obs (flattened),
    action (one-hot for Discrete), reward, done]``. The numpy twin saves torch's per-call
    overhead on every single-env step; ``tests/test_wrappers.py`` holds the two equal."""
    if isinstance(action_space, spaces.Discrete):
        encoded = np.zeros(int(action_space.n), dtype=np.float32)
        encoded[int(action) - int(action_space.start)] = 1.0
    else:
        encoded = np.asarray(action, dtype=np.float32).reshape(-1)
    return np.concatenate(
        [np.asarray(obs, dtype=np.float32).reshape(-1), encoded, np.array([reward, float(done)], dtype=np.float32)]
    )


def _action_features_space(space: spaces.Space) -> spaces.Box:
    """Range of ``encode_action``: one-hot for ``Discrete``, the Box's bounds otherwise."""
    if isinstance(space, spaces.Discrete):
        return spaces.Box(0.0, 1.0, (int(space.n),), np.float32)
    return spaces.Box(space.low.astype(np.float32), space.high.astype(np.float32))

