"""The SB3 baseline's training: the training envs, ``model.learn`` in chunks, checkpoints of tensors
and plain values, and the ``make_sb3_trainer`` factory."""

from __future__ import annotations

import inspect
from typing import Any

import gymnasium as gym
import torch
from gymnasium.envs.registration import load_env_creator
from metarl.agents.sb3.agent import SB3Agent, SB3OracleAgent
from metarl.agents.sb3.config import ACTION_SPACES, ACTIVATIONS, ALGORITHMS, POLICIES, SB3Config
from metarl.agents.sb3.env_state import env_state, load_env_state
from metarl.agents.sb3.state import algorithm_state, load_algorithm_state, load_normalizer_state, normalizer_state
from metarl.agents.sb3.state import check as check_value
from metarl.agents.sb3.state import keys as check_keys
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import Logger
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.on_policy_algorithm import OnPolicyAlgorithm
from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize
from torch import Tensor

from metarl.common.config import RunConfig
from metarl.core.wrappers import MultiTaskWrapper, TaskObservationWrapper, TrialWrapper, meta_env

#: SB3's ``train/*`` scalars that are settings or counters, logged as ``charts/*`` (the rest are ``losses/*``).
_CHART_KEYS = {"learning_rate", "n_updates", "clip_range", "clip_range_vf", "std", "ent_coef"}


# ----- training environments ------------------------------------------------------------------------
def family_kwargs(env_id: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The options among ``env.kwargs`` that the family's single env takes (batched-face options,
    e.g. the simulation backend, are for ``make_vec`` only)."""
    accepted = inspect.signature(load_env_creator(gym.spec(env_id).entry_point)).parameters
    return {k: v for k, v in kwargs.items() if k in accepted}


def make_single_env(env_id: str, env_kwargs: dict[str, Any], sb: SB3Config) -> gym.Env:
    """One training env: the family's single env under the wrappers ``sb`` asks for, and SB3's ``Monitor``."""
    env: gym.Env = gym.make(env_id, **family_kwargs(env_id, env_kwargs))
    if sb.trial:
        env = TrialWrapper(env, sb.trial_episodes, task_distribution=sb.tasks)
    else:
        env = MultiTaskWrapper(env, sb.tasks)
    if sb.task_info:
        env = TaskObservationWrapper(env)
    return Monitor(env)


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
        make = lambda: make_single_env(cfg.env.id, cfg.env.kwargs, self.sb)  # noqa: E731
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
        (``agents/sb3/state.py``); ``TypeError`` naming anything whose state metarl does not know."""
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
    """The ``sb3`` agent's trainer (named in ``metarl.common.agent_registry``)."""
    return SB3Trainer(cfg, device)
