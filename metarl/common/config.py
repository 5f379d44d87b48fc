"""Typed run configs: dataclass schemas loaded from YAML, strictly validated, with overrides.

A run config file looks like this (every section but ``agent`` and ``env.id`` has defaults)::

    agent: pearl                  # a registered agent (metarl.common.agent_registry)
    env:
      id: metarl/PointRobot-v0
      kwargs: {}                  # passed to gymnasium.make / make_vec
    seed: 0
    device: auto                  # auto | cpu | cuda | cuda:N
    train:
      total_steps: 1000000
      log_every: 1000
      checkpoint_every: 50000
      keep_checkpoints: 3         # older checkpoints are deleted
    eval:
      episodes: 3                 # K consecutive episodes per held-out task
      split: test                 # train | test | ood
      every_steps: null           # null: only at the end of training
    pearl:                        # the agent's own section, named after the agent
      lr: 3.0e-4

The agent's section is the agent's own dataclass (``RunConfig.agent_config`` in code), chosen
by the ``agent`` name, so an agent declares its hyperparameters once, with types and defaults::

    @dataclass
    class PEARLConfig:
        lr: float = 3e-4
        latent_dim: int = 5

        def __post_init__(self):
            check(self.lr > 0, "lr", self.lr, "> 0")

    register_agent("pearl", PEARLConfig, make_pearl_trainer)  # metarl.common.agent_registry

Loading is strict: an unknown key, a value of the wrong type or an impossible value raises
:class:`ConfigError` naming the dotted key, the value given and what is allowed. Impossible
values are caught by the dataclasses' own ``__post_init__`` (see :func:`check`), so a config
built in code is held to the same rules as one read from a file.

Overrides are ``key=value`` strings with dotted keys (``pearl.lr=1e-3``, ``env.id=metarl/AntDir-v0``,
``train.total_steps=5000``); the value is read as YAML (``[1, 2]`` is a list, ``null`` is None).
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import re
import sys
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from metarl.common.agent_registry import agent_config_type, registered_agents
from metarl.common.checks import ConfigError, FieldError, check, join_key, suggest
from metarl.common.files import atomic_write

__all__ = [
    "ConfigError",
    "FieldError",
    "EnvConfig",
    "EvalConfig",
    "RunConfig",
    "TrainConfig",
    "agent_config_type",
    "check",
    "config_diff",
    "config_to_dict",
    "from_dict",
    "load_config",
    "save_config",
]


# --- the common part of every run -------------------------------------------------------------

_DEVICE_PATTERN = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
_MODULE_NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*$")


@dataclass
class EnvConfig:
    """The task-distributed environment: a registered gymnasium id and its keyword arguments."""

    id: str
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        check(bool(self.id), "id", self.id, "a registered environment id, e.g. 'metarl/PointRobot-v0'")


@dataclass
class TrainConfig:
    """Length of training and how often to log and checkpoint, in environment steps.

    ``max_minutes`` also ends training (with the final checkpoint and evaluation) once that much
    wall-clock time has passed in this process: equal-compute comparisons between agents, and
    long runs continued over several sessions with ``--resume``.
    """

    total_steps: int = 1_000_000
    log_every: int = 1_000
    checkpoint_every: int = 50_000
    keep_checkpoints: int = 3
    max_minutes: float | None = None
    #: torch's CPU threads: ``auto`` (see ``metarl.runner.threads``) or a number.
    threads: int | Literal["auto"] = "auto"

    def __post_init__(self):
        for name in ("total_steps", "log_every", "checkpoint_every", "keep_checkpoints"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        check(self.max_minutes is None or self.max_minutes > 0, "max_minutes", self.max_minutes, "null or a number > 0")
        check(self.threads == "auto" or self.threads >= 1, "threads", self.threads, "'auto' or an integer >= 1")


@dataclass
class EvalConfig:
    """The adaptation-curve evaluation: K consecutive episodes on each task of a split."""

    episodes: int = 3
    split: Literal["train", "test", "ood"] = "test"
    every_steps: int | None = None  # None: evaluate once, at the end of training
    # On families that report success (Meta-World): how many of the last episodes are the
    # protocol's evaluation phase (None: the family's, Meta-World's 3 after 10 adaptation ones).
    evaluation_episodes: int | None = None

    def __post_init__(self):
        check(self.episodes >= 1, "episodes", self.episodes, "an integer >= 1")
        e = self.evaluation_episodes
        check(e is None or 0 <= e <= self.episodes, "evaluation_episodes", e, f"null or an integer in [0, episodes={self.episodes}]")
        every = self.every_steps
        check(every is None or every >= 1, "every_steps", every, "null or an integer >= 1")


@dataclass
class RunConfig:
    """A whole run: the common part plus the agent's own config (``agent_config``).

    In YAML, ``agent_config`` is the section named after the agent (e.g. ``pearl:``).
    """

    agent: str
    env: EnvConfig
    agent_config: Any
    seed: int = 0
    device: str = "auto"
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    #: Modules that register the run's families or agents (``--import``), imported before the
    #: config is read, and directories put on ``sys.path`` first so they import from anywhere.
    imports: list[str] = field(default_factory=list)
    python_path: list[str] = field(default_factory=list)

    def __post_init__(self):
        check(self.seed >= 0, "seed", self.seed, "an integer >= 0")
        for i, name in enumerate(self.imports):
            check(bool(_MODULE_NAME.match(name)), f"imports[{i}]", name, "a module name such as my_envs or pkg.envs")
        for i, folder in enumerate(self.python_path):
            check(os.path.isabs(folder), f"python_path[{i}]", folder, "an absolute directory path")
        check(bool(_DEVICE_PATTERN.match(self.device)), "device", self.device, "'auto', 'cpu', 'cuda' or 'cuda:N'")
        expected = agent_config_type(self.agent)
        if not isinstance(self.agent_config, expected):
            raise ConfigError(
                f"agent_config for agent {self.agent!r} must be a {expected.__name__}, "
                f"got {type(self.agent_config).__name__}"
            )


# --- dict -> dataclass, strictly ---------------------------------------------------------------


def _type_name(tp: Any) -> str:
    """A readable name for a type annotation, e.g. ``int | None`` or ``one of 'a', 'b'``."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return "any value"
    if tp is type(None):
        return "None"
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is not None:
        return f"{origin.__name__}[{', '.join('...' if a is Ellipsis else _type_name(a) for a in args)}]"
    if dataclasses.is_dataclass(tp):
        return f"a mapping ({tp.__name__})"
    return getattr(tp, "__name__", repr(tp))


def _wrong_type(path: str, value: Any, tp: Any) -> ConfigError:
    return ConfigError(f"{path}={value!r} has the wrong type ({type(value).__name__}); expected {_type_name(tp)}")


def _convert(value: Any, tp: Any, path: str) -> Any:
    """``value`` (parsed YAML) checked against the annotation ``tp``; dataclasses are built."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp is Any:
        return value
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise _wrong_type(path, value, tp)
        return _build(tp, value, path)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in args:
            if option is type(None):
                continue
            try:
                return _convert(value, option, path)
            except ConfigError:
                pass
        raise _wrong_type(path, value, tp)
    if origin is Literal:
        # `type(a) is type(value)` keeps True from matching a Literal[1] and 1 a Literal[True].
        if not any(value == a and type(value) is type(a) for a in args):
            raise ConfigError(f"{path}={value!r} is not allowed; allowed: {', '.join(repr(a) for a in args)}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _wrong_type(path, value, tp)
        return value
    if tp is int:
        # A whole float is an int written in scientific notation: `total_steps: 1e8`.
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if not isinstance(value, int) or isinstance(value, bool):
            raise _wrong_type(path, value, tp)
        return value
    if tp is float:
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise _wrong_type(path, value, tp)
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _wrong_type(path, value, tp)
        return value
    if tp is list or origin is list:
        if not isinstance(value, (list, tuple)):
            raise _wrong_type(path, value, tp)
        item = args[0] if args else Any
        return [_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value)]
    if tp is tuple or origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise _wrong_type(path, value, tp)
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            item = args[0] if args else Any
            return tuple(_convert(v, item, f"{path}[{i}]") for i, v in enumerate(value))
        if len(value) != len(args):
            raise ConfigError(f"{path}={value!r} has {len(value)} items; expected {len(args)} ({_type_name(tp)})")
        return tuple(_convert(v, a, f"{path}[{i}]") for i, (v, a) in enumerate(zip(value, args)))
    if tp is dict or origin is dict:
        if not isinstance(value, Mapping):
            raise _wrong_type(path, value, tp)
        key_tp, val_tp = args if args else (Any, Any)
        return {_convert(k, key_tp, path): _convert(v, val_tp, join_key(path, str(k))) for k, v in value.items()}
    raise TypeError(f"config field {path} has the annotation {tp!r}, which configs do not support")


def _build(cls: type, data: Mapping[str, Any], path: str, extra: Mapping[str, Any] | None = None) -> Any:
    """An instance of dataclass ``cls`` from ``data``; ``extra`` holds fields already built."""
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    extra = dict(extra or {})
    allowed = [name for name in fields if name not in extra]
    kwargs = dict(extra)
    for key, value in data.items():
        if key not in allowed:
            raise ConfigError(f"unknown key {join_key(path, str(key))!r}{suggest(str(key), allowed, path)}")
        kwargs[key] = _convert(value, hints[key], join_key(path, key))
    missing = [
        name
        for name, f in fields.items()
        if name not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if missing:
        raise ConfigError(f"missing required key {join_key(path, missing[0])!r} ({_type_name(hints[missing[0]])})")
    try:
        return cls(**kwargs)
    except FieldError as e:
        raise ConfigError(f"{join_key(path, e.key)}={e.value!r} is not allowed; allowed: {e.allowed}") from None
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(f"{path or 'config'}: {e}") from None


def from_dict(data: Mapping[str, Any]) -> RunConfig:
    """A validated :class:`RunConfig` from a mapping shaped like the YAML file."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(data).__name__}")
    if "agent" not in data:
        registered = ", ".join(sorted(registered_agents())) or "(none)"
        raise ConfigError(f"missing required key 'agent'; registered agents: {registered}")
    agent = data["agent"]
    if not isinstance(agent, str):
        raise _wrong_type("agent", agent, str)
    import_modules(data.get("imports") or [], data.get("python_path") or [])
    # The agent's section is named after the agent, so the allowed top-level keys depend on it.
    allowed = [f.name for f in dataclasses.fields(RunConfig) if f.name != "agent_config"] + [agent]
    for key in data:
        if key not in allowed:
            raise ConfigError(f"unknown key {str(key)!r}{suggest(str(key), allowed)}")
    # The common sections are converted before the agents (and torch) are imported, so most mistakes
    # are reported at once; the agent's own section needs its registered dataclass.
    hints = typing.get_type_hints(RunConfig)
    common = {k: _convert(v, hints[k], k) for k, v in data.items() if k not in (agent, "agent")}
    agent_type = agent_config_type(agent)
    agent_config = _convert({} if data.get(agent) is None else data[agent], agent_type, agent)
    return _build(RunConfig, {"agent": agent}, "", extra={**common, "agent_config": agent_config})


def import_modules(modules: Sequence[str], python_path: Sequence[str] = ()) -> None:
    """Import the modules a run names (they register its families and agents), with the
    ``python_path`` directories put on ``sys.path`` first; a :class:`ConfigError` names a module
    that cannot be imported."""
    if not isinstance(modules, (list, tuple)) or not isinstance(python_path, (list, tuple)):
        raise ConfigError(f"imports and python_path must be lists, got {modules!r} and {python_path!r}")
    for folder in python_path:
        if isinstance(folder, str) and os.path.isabs(folder) and folder not in sys.path:
            sys.path.insert(0, folder)
    for name in modules:
        if not isinstance(name, str) or not _MODULE_NAME.match(name):
            raise ConfigError(f"imports: {name!r} is not a module name (e.g. my_envs or pkg.envs)")
        try:
            importlib.import_module(name)
        except Exception as e:  # any failure of the user's module is reported, not a traceback
            where = f" (python_path: {', '.join(python_path)})" if python_path else ""
            raise ConfigError(f"imports: module {name!r} cannot be imported{where}: {type(e).__name__}: {e}") from None


# --- YAML in and out ---------------------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """YAML 1.1 safe loader that also reads ``1e-3`` as a float (plain PyYAML reads a string)."""


class _Dumper(yaml.SafeDumper):
    """Safe dumper that quotes strings such as ``"1e-3"``, which :class:`_Loader` reads as floats."""


_FLOAT = re.compile(
    r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
    |[-+]?\.(?:inf|Inf|INF)
    |\.(?:nan|NaN|NAN))$""",
    re.X,
)
for _cls in (_Loader, _Dumper):
    _cls.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _read_yaml(text: str, where: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ConfigError(f"{where} is not valid YAML: {e}") from None


def _apply_override(data: dict[str, Any], override: str) -> None:
    """Set the dotted key of a ``key=value`` override in the raw config mapping."""
    key, sep, text = override.partition("=")
    if not sep or not key.strip():
        raise ConfigError(f"override {override!r} is not of the form key=value (e.g. seed=3 or pearl.lr=1e-3)")
    parts = key.strip().split(".")
    node = data
    for i, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if child is None:  # an empty YAML section, e.g. `pearl:` with nothing under it
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"override {override!r}: {'.'.join(parts[: i + 1])} is a value, not a section")
        node = child
    node[parts[-1]] = _read_yaml(text, f"the value of override {override!r}")


def load_config(path: str | os.PathLike, overrides: Sequence[str] = ()) -> RunConfig:
    """Read, override and validate a YAML run config; every problem is a :class:`ConfigError`."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as e:
        raise ConfigError(f"cannot read config file {str(path)!r}: {e.strerror}") from None
    data = _read_yaml(text, f"config file {str(path)!r}")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of keys to values, got {type(data).__name__}")
    for override in overrides:
        _apply_override(data, override)
    try:
        return from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None


def _plain(value: Any) -> Any:
    """Dataclasses and tuples as dicts and lists, so YAML and JSON can write them."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def config_to_dict(cfg: RunConfig) -> dict[str, Any]:
    """The config as plain data shaped like the YAML file (``from_dict`` inverts it)."""
    data = _plain(cfg)
    data[cfg.agent] = data.pop("agent_config")
    return data


def config_diff(a: Mapping[str, Any], b: Mapping[str, Any], path: str = "") -> list[str]:
    """Dotted keys whose values differ between two config dicts, as ``key: a -> b`` lines."""
    diffs = []
    for key in sorted(set(a) | set(b), key=str):
        dotted = join_key(path, str(key))
        va, vb = a.get(key, "<absent>"), b.get(key, "<absent>")
        if isinstance(va, Mapping) and isinstance(vb, Mapping):
            diffs += config_diff(va, vb, dotted)
        elif va != vb:
            diffs.append(f"{dotted}: {va!r} -> {vb!r}")
    return diffs


def save_config(cfg: RunConfig, path: str | os.PathLike) -> None:
    """Write the resolved config as YAML, atomically; :func:`load_config` reads it back equal."""
    text = yaml.dump(config_to_dict(cfg), Dumper=_Dumper, sort_keys=False, default_flow_style=None)
    atomic_write(path, lambda f: f.write(text.encode()))
