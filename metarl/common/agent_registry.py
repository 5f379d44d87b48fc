"""The agents ``metarl train`` knows: a name -> its config dataclass and its trainer factory.

``agent: <name>`` in a config file selects the dataclass ``config_type`` for the section named
after the agent, and ``make_trainer(cfg, device)`` builds the agent's ``Trainer``
(``metarl.common.protocol``). The built-in agents are named below by import path and imported
on first use, as gymnasium's registry does for envs: the shared layers never import an agent,
and ``metarl`` starts without loading torch models it does not need. Other agents register
objects with :func:`register_agent` (a module named in a config's ``imports`` can do it).
"""

from __future__ import annotations

import dataclasses
import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from metarl.common.checks import ConfigError, suggest

if TYPE_CHECKING:
    import torch

    from metarl.common.config import RunConfig
    from metarl.common.protocol import Trainer

TrainerFactory = Callable[["RunConfig", "torch.device"], "Trainer"]

#: The top-level sections of a run config: no agent may take one of these names.
RESERVED_NAMES = ("agent", "env", "agent_config", "seed", "device", "train", "eval", "imports", "python_path")


@dataclass(frozen=True)
class AgentEntry:
    """An agent's config dataclass and trainer factory, as objects or ``"module:attribute"`` paths."""

    config: type | str
    make_trainer: TrainerFactory | str


def _builtin(package: str, config: str, factory: str) -> AgentEntry:
    return AgentEntry(f"metarl.agents.{package}:{config}", f"metarl.agents.{package}:{factory}")


_CLASSICAL = ("thompson", "ucb1", "greedy", "gittins", "bayes_optimal", "psrl", "beb", "random")
_CLASSICAL_CONFIGS = ("Thompson", "UCB1", "Greedy", "Gittins", "BayesOptimal", "PSRL", "BEB", "Random")

_AGENTS: dict[str, AgentEntry] = {
    "pearl": _builtin("pearl", "PEARLConfig", "make_pearl_trainer"),
    "rl2": _builtin("rl2", "RL2Config", "make_rl2_trainer"),
    "varibad": _builtin("varibad", "VariBADConfig", "make_varibad_trainer"),
    "maml": _builtin("gradient", "MAMLConfig", "make_maml_trainer"),
    "cavia": _builtin("gradient", "CAVIAConfig", "make_cavia_trainer"),
    "oracle": _builtin("oracle", "OracleConfig", "make_oracle_trainer"),
    "sb3": _builtin("sb3", "SB3Config", "make_sb3_trainer"),
    **{
        name: _builtin("classical", f"{config}Config", f"make_{name}_trainer")
        for name, config in zip(_CLASSICAL, _CLASSICAL_CONFIGS, strict=True)
    },
}


def register_agent(name: str, config_type: type, make_trainer: TrainerFactory) -> None:
    """Make agent ``name`` trainable with ``metarl train``: its config section is the dataclass
    ``config_type``, its trainer ``make_trainer(cfg, device)``. Registering the same pair again
    is harmless; another config type under a taken name is refused."""
    if not dataclasses.is_dataclass(config_type) or not isinstance(config_type, type):
        raise TypeError(f"config_type for agent {name!r} must be a dataclass type, got {config_type!r}")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        # The name is a YAML section and the first part of override keys such as `pearl.lr`.
        raise ValueError(f"agent name {name!r} must be made of letters, digits, '_' and '-'")
    if name in RESERVED_NAMES:
        raise ValueError(f"agent name {name!r} clashes with the run config section {name!r}; choose another")
    if not callable(make_trainer):
        raise TypeError(f"make_trainer for agent {name!r} must be callable, got {make_trainer!r}")
    previous = _AGENTS.get(name)
    if previous is not None and _resolve(previous.config) is not config_type:
        raise ValueError(f"agent {name!r} already has config {_resolve(previous.config).__qualname__}; choose another name")
    _AGENTS[name] = AgentEntry(config_type, make_trainer)


def registered_agents() -> list[str]:
    """The names of the registered agents (built-in ones included), sorted."""
    return sorted(_AGENTS)


def agent_config_type(name: str) -> type:
    """The config dataclass of agent ``name`` (imports a built-in agent's module on first use)."""
    return _resolve(_entry(name).config)


def trainer_factory(name: str) -> TrainerFactory:
    """The trainer factory of agent ``name``."""
    return _resolve(_entry(name).make_trainer)


def _entry(name: str) -> AgentEntry:
    if name not in _AGENTS:
        raise ConfigError(f"agent={name!r} is not a registered agent{suggest(name, _AGENTS)}")
    return _AGENTS[name]


def _resolve(target: Any) -> Any:
    if not isinstance(target, str):
        return target
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)
