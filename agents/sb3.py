"""Stable-Baselines3 baselines: standard RL trained on the mixture of training tasks.

``agent: sb3`` trains an SB3 (or sb3-contrib) model on a family's single env through the
wrappers of ``metarl.core.wrappers``, and adapts it to the adaptation interface so ``metarl
evaluate`` and ``metarl plot`` treat it like any meta-RL agent:

- ``algo: ppo | sac``, ``task_info: false``: the multi-task policy that never adapts, a new
  training task every episode (``MultiTaskWrapper``): the no-adaptation lower bound.
- ``task_info: true``: the same with the task parameters appended to the observation
  (``TaskObservationWrapper``): an oracle from a standard library. At evaluation the adapter is
  ``TaskAware``: it is given the held-out tasks by ``set_tasks``.
- ``algo: recurrent_ppo``, ``trial: true``: RL^2 with sb3-contrib's ``RecurrentPPO`` on trials
  (``TrialWrapper``); the adapter carries the LSTM state and the previous action, reward and
  done flag across the episodes of an adaptation and resets them at ``begin_task``.

Training calls ``model.learn`` in chunks (one chunk per ``train_iteration``). A checkpoint holds
tensors and plain values only (``agents/sb3_state.py``), never pickles or SB3's ``model.save``
archive, and resuming never unpickles: the trainer is rebuilt from the run's config and the state
is written into it: the policy's parameters and optimizer states (SAC's entropy coefficient too),
SB3's counters, last observations and episode-info buffers, the replay buffer (SAC), the LSTM
states (RecurrentPPO), the running statistics of ``normalize``, and the sub-envs in the middle of
their episodes (wrapper counters, task streams, RNGs, the task, and the simulation: an analytic
env's state tensor, a MuJoCo env's integration state and derived quantities). Resuming loses only
the steps after the checkpoint, bit for bit. A wrapper, env or buffer whose state metarl does not
know is an error when the checkpoint is written.
Hyperparameters are constants: SB3 measures a schedule's progress within one ``learn`` call, so
chunked training has no schedules over the whole run (the zoo's ``lin_...`` are not supported).

Unlike metarl's own agents, this baseline is the standard library as it is: SB3 trains on numpy
single envs in a ``DummyVecEnv`` (a per-env Python loop), and at evaluation the adapter moves the
batched torch observations to numpy for ``model.predict`` and its actions back to torch.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from gymnasium import spaces
from gymnasium.envs.registration import load_env_creator
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from torch import Tensor

from metarl.common.checks import check
from metarl.common.config import RunConfig
from metarl.common.onpolicy import trial_input
from metarl.common.protocol import Transition
from metarl.core.meta_env import MetaEnv
from metarl.core.tasks import TaskBatch
from metarl.core.wrappers import MultiTaskWrapper, TaskObservationWrapper, TrialWrapper, meta_env, task_features

from .sb3_env_state import env_state, load_env_state
from .sb3_state import algorithm_state, load_algorithm_state, load_normalizer_state, normalizer_state
from .sb3_state import check as check_value
from .sb3_state import keys as check_keys

ALGORITHMS: dict[str, type[BaseAlgorithm]] = {"ppo": PPO, "sac": SAC, "recurrent_ppo": RecurrentPPO}
# The action spaces each algorithm takes (SB3 asserts them only once the model is being built).
_ON_POLICY_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)
ACTION_SPACES: dict[str, tuple[type[spaces.Space], ...]] = {
    "ppo": _ON_POLICY_SPACES, "sac": (spaces.Box,), "recurrent_ppo": _ON_POLICY_SPACES,
}
POLICIES: dict[str, str] = {"ppo": "MlpPolicy", "sac": "MlpPolicy", "recurrent_ppo": "MlpLstmPolicy"}
#: Constructor arguments the trainer sets itself; a config cannot override them.
MANAGED_ARGUMENTS = ("policy", "env", "seed", "device", "policy_kwargs", "verbose", "tensorboard_log", "_init_setup_model")
#: ``policy_kwargs.activation_fn`` by name (the zoo writes e.g. ``nn.ReLU``).
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "leaky_relu": nn.LeakyReLU, "gelu": nn.GELU, "silu": nn.SiLU,
}  # fmt: skip
#: SB3's ``train/*`` scalars that are settings or counters, logged as ``charts/*`` (the rest are ``losses/*``).
_CHART_KEYS = {"learning_rate", "n_updates", "clip_range", "clip_range_vf", "std", "ent_coef"}


@dataclass
class SB3Config:
    """An SB3 baseline: which algorithm, what it observes, and the arguments SB3 is given.

    ``hyperparameters`` go to the algorithm's constructor (``PPO``, ``SAC``, ``RecurrentPPO``)
    and ``policy_kwargs`` to its policy, checked against their signatures; ``activation_fn`` is a
    name (see ``ACTIVATIONS``). ``tasks``: where training tasks come from (the family's fixed
    training set, or fresh draws from its distribution). ``normalize``: SB3's ``VecNormalize`` of
    observations and rewards (the zoo's ``normalize: true``); the adapter normalizes evaluation
    observations with the training statistics. ``steps_per_iteration``: env steps per ``learn``
    call (default: one rollout of ``n_steps * n_envs`` for on-policy algorithms, 1000 for SAC).
    """

    algo: Literal["ppo", "sac", "recurrent_ppo"] = "ppo"
    task_info: bool = False
    trial: bool = False
    trial_episodes: int | None = None  # None: the family's trial_episodes
    tasks: Literal["train", "distribution"] = "train"
    n_envs: int = 1
    normalize: bool = False
    steps_per_iteration: int | None = None
    policy_kwargs: dict[str, Any] = field(default_factory=dict)
    hyperparameters: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self.n_envs >= 1, "n_envs", self.n_envs, "an integer >= 1")
        steps = self.steps_per_iteration
        check(steps is None or steps >= 1, "steps_per_iteration", steps, "null or an integer >= 1")
        check(
            not self.trial or self.algo == "recurrent_ppo", "trial", self.trial,
            "true only with algo: recurrent_ppo (RL^2 needs a memory across the trial's episodes)",
        )  # fmt: skip
        episodes = self.trial_episodes
        check(episodes is None or (self.trial and episodes >= 1), "trial_episodes", episodes,
              "null, or an integer >= 1 with trial: true")  # fmt: skip
        algorithm = ALGORITHMS[self.algo]
        allowed = [p for p in _parameters(algorithm.__init__) if p not in MANAGED_ARGUMENTS]
        for key in self.hyperparameters:
            check(key in allowed, f"hyperparameters.{key}", self.hyperparameters[key],
                  f"a keyword of {algorithm.__name__}: {', '.join(sorted(allowed))}")  # fmt: skip
        policy = algorithm.policy_aliases[POLICIES[self.algo]]
        allowed = [p for p in _parameters(policy.__init__) if p not in ("observation_space", "action_space", "lr_schedule")]
        for key, value in self.policy_kwargs.items():
            check(key in allowed, f"policy_kwargs.{key}", value,
                  f"a keyword of {policy.__name__}: {', '.join(sorted(allowed))}")  # fmt: skip
        if "activation_fn" in self.policy_kwargs:
            activation = self.policy_kwargs["activation_fn"]
            check(activation in ACTIVATIONS, "policy_kwargs.activation_fn", activation, ", ".join(ACTIVATIONS))

    @property
    def variant(self) -> str:
        """Short name of the baseline, e.g. ``sb3-ppo``, ``sb3-sac-oracle``, ``sb3-recurrent_ppo-rl2``."""
        return f"sb3-{self.algo}" + ("-oracle" if self.task_info else "") + ("-rl2" if self.trial else "")


def _parameters(function: Callable[..., Any]) -> list[str]:
    return [name for name in inspect.signature(function).parameters if name not in ("self", "args", "kwargs")]


# ----- training environments ------------------------------------------------------------------------
def family_kwargs(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The options among ``env.kwargs`` that the family's single env takes (batched-face options,
    e.g. the simulation backend, are for ``make_vec`` only)."""
    accepted = inspect.signature(load_env_creator(gym.spec(env_id).entry_point)).parameters
    return {k: v for k, v in kwargs.items() if k in accepted}


def make_training_env(env_id: str, env_kwargs: dict[str, Any], sb: SB3Config) -> gym.Env:
    """One training env: the family's single env under the wrappers ``sb`` asks for, and SB3's ``Monitor``."""
    env: gym.Env = gym.make(env_id, **family_kwargs(env_id, env_kwargs))
    if sb.trial:
        env = TrialWrapper(env, sb.trial_episodes, task_distribution=sb.tasks)
    else:
        env = MultiTaskWrapper(env, sb.tasks)
    if sb.task_info:
        env = TaskObservationWrapper(env)
    return Monitor(env)


# ----- the adapter ---------------------------------------------------------------------------------
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


# ----- the trainer ---------------------------------------------------------------------------------
class _EpisodeReturns(BaseCallback):
    """Appends the return of every finished training episode (in trials: every inner episode)."""

    def __init__(self, returns: list[float], trial: bool) -> None:
        super().__init__()
        self.returns, self.trial = returns, trial

    def _on_step(self) -> bool:
        for info in self.locals["infos"]:
            episode = info.get("inner_episode") if self.trial else info.get("episode")
            if episode is not None:
                self.returns.append(float(episode["r"]))
        return True


class SB3Trainer:
    """Trains an SB3 model on the family's training tasks, ``steps_per_iteration`` steps per iteration."""

    def __init__(self, cfg: RunConfig, device: torch.device) -> None:
        self.cfg = cfg
        self.sb: SB3Config = cfg.agent_config
        self.device = device
        make = lambda: make_training_env(cfg.env.id, cfg.env.kwargs, self.sb)  # noqa: E731
        self.venv = DummyVecEnv([make] * self.sb.n_envs)
        self.family = meta_env(self.venv.envs[0])
        gamma = self.sb.hyperparameters.get("gamma", 0.99)
        self.normalizer = VecNormalize(self.venv, gamma=gamma) if self.sb.normalize else None
        supported = ACTION_SPACES[self.sb.algo]
        if not isinstance(self.venv.action_space, supported):
            raise ValueError(
                f"sb3.algo={self.sb.algo!r} cannot act in {cfg.env.id}'s action space {self.venv.action_space}; "
                f"it supports {', '.join(s.__name__ for s in supported)}"
            )
        policy_kwargs = dict(self.sb.policy_kwargs)
        if "activation_fn" in policy_kwargs:
            policy_kwargs["activation_fn"] = ACTIVATIONS[policy_kwargs["activation_fn"]]
        self.model = ALGORITHMS[self.sb.algo](
            POLICIES[self.sb.algo], self.normalizer or self.venv, seed=cfg.seed, device=device, verbose=0,
            policy_kwargs=policy_kwargs, **self.sb.hyperparameters,
        )  # fmt: skip
        self.env_steps = 0
        self.episode_returns: list[float] = []
        self._adopt_model(self.model)

    def _adopt_model(self, model: BaseAlgorithm) -> None:
        """Use ``model``: a silent logger whose values ``train_iteration`` reports."""
        self.model = model
        model.set_logger(Logger(folder=None, output_formats=[]))
        agent_type = SB3OracleAgent if self.sb.task_info else SB3Agent
        self.agent = agent_type(model, self.family, self.sb.trial, self.normalizer, self.sb.variant)

    @property
    def steps_per_iteration(self) -> int:
        """Env steps per ``learn`` call (see ``SB3Config.steps_per_iteration``)."""
        if self.sb.steps_per_iteration is not None:
            return self.sb.steps_per_iteration
        return self.model.n_steps * self.sb.n_envs if isinstance(self.model, OnPolicyAlgorithm) else 1000

    def train_iteration(self) -> dict[str, float]:
        """``model.learn`` for the next chunk of steps (never past ``train.total_steps`` but for
        the whole rollouts of on-policy algorithms); returns SB3's training scalars."""
        steps = min(self.steps_per_iteration, max(self.cfg.train.total_steps - self.env_steps, 1))
        callback = _EpisodeReturns(self.episode_returns, self.sb.trial)
        self.model.learn(steps, callback=callback, reset_num_timesteps=False, log_interval=None, progress_bar=False)
        self.env_steps = int(self.model.num_timesteps)
        logger = self.model.logger
        metrics = {
            ("charts/" if name in _CHART_KEYS else "losses/") + name: float(value)
            for key, value in logger.name_to_value.items()
            if key.startswith("train/") and (name := key.removeprefix("train/"))
        }
        logger.dump(self.env_steps)  # no output formats: this only clears the values for the next chunk
        return metrics

    def state_dict(self) -> dict[str, Any]:
        """The model, the sub-envs mid-episode and the normalizer, as tensors and plain values
        (``agents/sb3_state.py``); ``TypeError`` naming anything whose state metarl does not know."""
        state: dict[str, Any] = {
            "algorithm": algorithm_state(self.model),
            "envs": [env_state(env) for env in self.venv.envs],
            "env_seeds": [None if seed is None else int(seed) for seed in self.venv._seeds],  # reset seeds not yet used
            "env_steps": self.env_steps,
            "episode_returns": torch.tensor(self.episode_returns, dtype=torch.float64),
        }
        if self.normalizer is not None:
            state["normalizer"] = normalizer_state(self.normalizer)
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Write ``state_dict`` output into this trainer, built from the same config. Nothing is
        unpickled; values are checked before they are written (a bad checkpoint raises and leaves
        the trainer partly restored: build a new one)."""
        expected = {"algorithm", "envs", "env_seeds", "env_steps", "episode_returns"}
        check_keys(state, expected | ({"normalizer"} if self.normalizer is not None else set()), "sb3 trainer state")
        if type(state["envs"]) is not list or len(state["envs"]) != len(self.venv.envs):
            raise ValueError(f"the checkpoint must hold {len(self.venv.envs)} sub-envs, as sb3.n_envs")
        for env, saved in zip(self.venv.envs, state["envs"]):
            load_env_state(env, saved)
        seeds = check_value(state["env_seeds"], [(int, None)], "env_seeds")
        if len(seeds) != self.venv.num_envs:
            raise ValueError(f"env_seeds must list {self.venv.num_envs} seeds")
        self.venv._seeds = seeds
        if self.normalizer is not None:
            load_normalizer_state(self.normalizer, state["normalizer"])
        load_algorithm_state(self.model, state["algorithm"])
        self.env_steps = check_value(state["env_steps"], int, "env_steps")
        returns = state["episode_returns"]
        if not isinstance(returns, Tensor) or returns.dtype != torch.float64 or returns.ndim != 1:
            raise TypeError("episode_returns must be a 1-d float64 tensor")
        self.episode_returns[:] = returns.tolist()


def make_sb3_trainer(cfg: RunConfig, device: torch.device) -> SB3Trainer:
    """The ``sb3`` agent's trainer (registered with ``metarl.runner.train.register_agent``)."""
    return SB3Trainer(cfg, device)
