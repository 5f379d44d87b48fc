"""The SB3 baseline's config: which algorithm, what it observes, and the arguments SB3 is given,
checked against the signatures of SB3's constructors."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from gymnasium import spaces
from sb3_contrib import RecurrentPPO
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

from metarl.common.checks import check
from metarl.common.networks import ACTIVATIONS

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
