"""The state of an SB3 training run as tensors and plain values, and its restoration.

A checkpoint must load with ``torch.load(weights_only=True)`` and restoring it must never unpickle
(``pickle``, ``cloudpickle`` and SB3's ``BaseAlgorithm.load`` run code named by the file). So the
trainer is rebuilt from the run's config and every piece of state below is written back *into* the
objects it built:

- the algorithm (``algorithm_state``): the state dicts SB3 itself saves with torch
  (``_get_torch_save_params``: the policy, its optimizers, SAC's ``log_ent_coef``), the counters,
  ``_last_obs``/``_last_episode_starts``/``_last_original_obs``, the episode-info buffers, the
  action space's RNG (SAC's warm-up actions), SAC's replay buffer and RecurrentPPO's LSTM states;
- ``VecNormalize``'s running statistics (``normalizer_state``);
- each sub-env in the middle of its episode: ``agents/sb3/env_state.py``.

Attribute names always come from this module (or from SB3, MuJoCo and the live objects), never
from the checkpoint; values are checked (type, shape, dtype) before they are written. A type whose
state is not known here is a ``TypeError`` naming it when the state is *saved*, so a run never
writes a checkpoint it cannot resume from. The checked-value helpers here (``check``, ``tensor``,
``keys``, ...) serve both modules.
"""

from __future__ import annotations

import functools
from collections import OrderedDict, deque
from typing import Any

import numpy as np
import torch
from sb3_contrib import RecurrentPPO
from sb3_contrib.common.recurrent.type_aliases import RNNStates
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.buffers import ReplayBuffer
from stable_baselines3.common.running_mean_std import RunningMeanStd
from stable_baselines3.common.vec_env import VecNormalize
from torch import Tensor

__all__ = ["algorithm_state", "load_algorithm_state", "load_normalizer_state", "normalizer_state"]

#: SB3 counters a checkpoint carries, with their types.
COUNTERS: dict[str, type] = {
    "num_timesteps": int, "_total_timesteps": int, "_num_timesteps_at_start": int, "_episode_num": int,
    "_n_updates": int, "_current_progress_remaining": float,
}  # fmt: skip
#: Replay buffer arrays carried by a checkpoint (``next_observations`` is None with optimize_memory_usage).
REPLAY_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")

PLAIN = "plain"  # spec for a tree of None/bool/int/float/str in lists and str-keyed dicts


# ----- checked values ------------------------------------------------------------------------------
def check(value: Any, spec: Any, where: str) -> Any:
    """``value`` if it matches ``spec`` (a type, None, a tuple of alternatives, ``[spec]`` for a
    list, ``PLAIN``), else a ``TypeError`` naming ``where``. A float spec accepts an int."""
    if isinstance(spec, list):
        if type(value) is not list:
            raise TypeError(f"{where} is a {type(value).__name__}; expected a list")
        return [check(v, spec[0], f"{where}[{i}]") for i, v in enumerate(value)]
    if spec == PLAIN:
        if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
            return [check(v, PLAIN, f"{where}[{i}]") for i, v in enumerate(value)]
        if type(value) is dict:
            return {check(k, str, f"{where} key"): check(v, PLAIN, f"{where}[{k!r}]") for k, v in value.items()}
        spec = (None, bool, int, float, str)
    for s in spec if isinstance(spec, tuple) else (spec,):
        if (s is None and value is None) or type(value) is s or (s is float and type(value) is int):
            return value
    raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}; expected {spec}")


def to_plain(value: Any, where: str) -> Any:
    """``value`` as plain values (numpy scalars as Python ones); ``TypeError`` for anything else."""
    if isinstance(value, np.generic):
        return value.item()
    if type(value) in (list, tuple, deque):
        return [to_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if type(value) is dict:
        return {check(k, str, f"{where} key"): to_plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    return check(value, PLAIN, where)


def array(value: np.ndarray | Tensor, where: str) -> Tensor:
    """A CPU copy of a numpy array or tensor; ``TypeError`` for anything else (e.g. a dict observation)."""
    if isinstance(value, (np.ndarray, np.generic)) and value.dtype != object:  # a scalar: e.g. ret_rms.mean
        return torch.from_numpy(np.array(value))
    if isinstance(value, Tensor):
        return value.detach().cpu().clone()
    raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}; metarl checkpoints "
                    "only numeric arrays here")  # fmt: skip


def tensor(value: Any, where: str, like: np.ndarray | Tensor | None = None) -> Tensor:
    """``value`` checked to be a tensor (of ``like``'s shape and dtype when given)."""
    if not isinstance(value, Tensor):
        raise TypeError(f"{where} is a {type(value).__name__}; expected a tensor")
    if like is not None:
        shape = tuple(like.shape)
        dtype = like.dtype if isinstance(like, Tensor) else torch.from_numpy(np.empty(0, like.dtype)).dtype
        if tuple(value.shape) != shape or value.dtype != dtype:
            raise ValueError(
                f"{where} is a {value.dtype} tensor of shape {tuple(value.shape)}; expected {dtype} {shape}"
            )
    return value


def numpy_like(value: Any, where: str, like: np.ndarray) -> np.ndarray:
    """``value`` as a new numpy array, checked to have ``like``'s shape and dtype."""
    return tensor(value, where, like).numpy().copy()


def keys(state: Any, expected: set[str] | list[str], where: str) -> dict[str, Any]:
    """``state`` checked to be a dict with exactly the ``expected`` keys."""
    if type(state) not in (dict, OrderedDict):  # torch's state dicts are OrderedDicts
        raise TypeError(f"{where} is a {type(state).__name__}; expected a dict")
    if set(state) != set(expected):
        raise ValueError(f"{where} has keys {sorted(map(str, state))}; expected {sorted(expected)}")
    return state


def rng_state(generator: np.random.Generator) -> dict[str, Any]:
    """A numpy generator's bit-generator state (a dict of ints and names)."""
    return to_plain(generator.bit_generator.state, "bit generator state")


def set_rng(generator: np.random.Generator, state: Any, where: str) -> None:
    """Set a numpy generator's state (numpy checks the bit generator's name and fields)."""
    generator.bit_generator.state = check(state, PLAIN, where)


# ----- the algorithm -------------------------------------------------------------------------------
def _attribute(obj: Any, dotted: str) -> Any:
    return functools.reduce(getattr, dotted.split("."), obj)


def _tree_copy(value: Any) -> Any:
    """A state dict with its tensors cloned, so later training does not change a taken state."""
    if isinstance(value, Tensor):
        return value.detach().clone()
    if type(value) in (dict, OrderedDict):
        copied = type(value)((k, _tree_copy(v)) for k, v in value.items())
        if hasattr(value, "_metadata"):  # module versions, read by load_state_dict
            copied._metadata = value._metadata
        return copied
    if type(value) in (list, tuple):
        return type(value)(_tree_copy(v) for v in value)
    return value


def _check_like(saved: Any, current: Any, where: str) -> None:
    """``saved`` has ``current``'s layout: same dict keys, sequence lengths, and leaf types."""
    if type(current) in (dict, OrderedDict):
        keys(saved, set(current), where)
        for k in current:
            _check_like(saved[k], current[k], f"{where}[{k!r}]")
    elif type(current) in (list, tuple):
        if type(saved) is not type(current) or len(saved) != len(current):
            raise ValueError(f"{where} is not a {type(current).__name__} of {len(current)} items")
        for i, (s, c) in enumerate(zip(saved, current)):
            _check_like(s, c, f"{where}[{i}]")
    elif not (
        type(saved) is type(current)
        or {type(saved), type(current)} == {int, float}
        or (isinstance(saved, Tensor) and isinstance(current, Tensor))
    ):
        raise TypeError(f"{where} is a {type(saved).__name__}; expected a {type(current).__name__}")


def _check_optimizer_state(saved: Any, optimizer: torch.optim.Optimizer, where: str) -> None:
    current = optimizer.state_dict()
    keys(saved, set(current), where)
    _check_like(saved["param_groups"], current["param_groups"], f"{where}['param_groups']")
    params = {p for group in current["param_groups"] for p in group["params"]}
    if type(saved["state"]) is not dict or not set(saved["state"]) <= params:
        raise ValueError(f"{where}['state'] must map parameter indices {sorted(params)} to their states")
    for index, per_param in saved["state"].items():
        for name, value in keys(per_param, set(per_param), f"{where}['state'][{index}]").items():
            check(name, str, f"{where}['state'][{index}] key")
            if not isinstance(value, Tensor):
                check(value, (int, float, bool), f"{where}['state'][{index}][{name!r}]")


def algorithm_state(model: BaseAlgorithm) -> dict[str, Any]:
    """The SB3 model's training state: torch state dicts, counters, last observations, buffers."""
    if model.action_noise is not None:  # OU noise has a state of its own; YAML cannot give one anyway
        raise TypeError(f"action noise {type(model.action_noise).__qualname__} is not checkpointed by metarl")
    modules, variables = model._get_torch_save_params()
    state: dict[str, Any] = {
        "class": type(model).__qualname__,
        "state_dicts": {name: _tree_copy(_attribute(model, name).state_dict()) for name in modules},
        "variables": {name: _attribute(model, name).detach().clone() for name in variables},
        "counters": {name: check(getattr(model, name), kind, name) for name, kind in COUNTERS.items()},
        "action_space_rng": rng_state(model.action_space.np_random),
    }
    for name in ("_last_obs", "_last_episode_starts", "_last_original_obs"):
        value = getattr(model, name)
        state[name] = None if value is None else array(value, name)
    for name in ("ep_info_buffer", "ep_success_buffer"):
        value = getattr(model, name)  # None until the first learn call
        state[name] = None if value is None else to_plain(value, name)
    if getattr(model, "replay_buffer", None) is not None:
        state["replay"] = replay_state(model.replay_buffer)
    if isinstance(model, RecurrentPPO):
        lstm = model._last_lstm_states  # excluded from SB3's own save by sb3-contrib
        state["lstm"] = {"pi": [array(t, "lstm.pi") for t in lstm.pi], "vf": [array(t, "lstm.vf") for t in lstm.vf]}
    return state


def load_algorithm_state(model: BaseAlgorithm, state: Any) -> None:
    """Write ``algorithm_state`` output into ``model`` (built from the same config)."""
    expected = {"class", "state_dicts", "variables", "counters", "action_space_rng", "_last_obs",
                "_last_episode_starts", "_last_original_obs", "ep_info_buffer", "ep_success_buffer"}  # fmt: skip
    expected |= {"replay"} if getattr(model, "replay_buffer", None) is not None else set()
    expected |= {"lstm"} if isinstance(model, RecurrentPPO) else set()
    keys(state, expected, "algorithm state")
    if state["class"] != type(model).__qualname__:
        raise ValueError(f"the checkpoint holds a {state['class']!r} model; this run trains {type(model).__qualname__}")
    modules, variables = model._get_torch_save_params()
    keys(state["state_dicts"], modules, "algorithm state_dicts")
    keys(state["variables"], variables, "algorithm variables")
    for name in modules:
        target, saved = _attribute(model, name), state["state_dicts"][name]
        if isinstance(target, torch.optim.Optimizer):
            _check_optimizer_state(saved, target, f"state_dicts[{name!r}]")
        else:
            current = target.state_dict()
            keys(saved, set(current), f"state_dicts[{name!r}]")
            for key, value in saved.items():
                tensor(value, f"state_dicts[{name!r}][{key!r}]", current[key])
        target.load_state_dict(saved)
    with torch.no_grad():
        for name in variables:
            target = _attribute(model, name)
            target.copy_(tensor(state["variables"][name], f"variables[{name!r}]", target))
    counters = keys(state["counters"], COUNTERS, "algorithm counters")
    for name, kind in COUNTERS.items():
        setattr(model, name, kind(check(counters[name], kind, f"counters[{name!r}]")))
    set_rng(model.action_space.np_random, state["action_space_rng"], "action_space_rng")
    # Observations keep the dtype they were saved with (the env's, or float32 after VecNormalize).
    shapes = {"_last_obs": (model.n_envs, *model.observation_space.shape), "_last_episode_starts": (model.n_envs,),
              "_last_original_obs": (model.n_envs, *model.observation_space.shape)}  # fmt: skip
    for name, shape in shapes.items():
        if state[name] is None:
            setattr(model, name, None)
            continue
        value = tensor(state[name], name)
        if tuple(value.shape) != shape or (value.dtype == torch.bool) != (name == "_last_episode_starts"):
            raise ValueError(f"{name} is a {value.dtype} tensor of shape {tuple(value.shape)}; expected shape {shape}")
        setattr(model, name, value.numpy().copy())
    for name in ("ep_info_buffer", "ep_success_buffer"):
        value = state[name]
        setattr(
            model, name, None if value is None else deque(check(value, [PLAIN], name), maxlen=model._stats_window_size)
        )
    if "replay" in state:
        load_replay_state(model.replay_buffer, state["replay"])
    if "lstm" in state:
        lstm = model._last_lstm_states
        saved = keys(state["lstm"], {"pi", "vf"}, "lstm")
        pairs = {}
        for part in ("pi", "vf"):
            if type(saved[part]) is not list or len(saved[part]) != 2:
                raise ValueError(f"lstm.{part} must be the pair [h, c]")
            pairs[part] = tuple(
                tensor(t, f"lstm.{part}", old.cpu()).to(old.device) for t, old in zip(saved[part], getattr(lstm, part))
            )
        model._last_lstm_states = RNNStates(pairs["pi"], pairs["vf"])


def replay_state(buffer: ReplayBuffer) -> dict[str, Any]:
    """The filled part of an SB3 replay buffer as tensors, with its write position."""
    if type(buffer) is not ReplayBuffer:  # e.g. a DictReplayBuffer holds dicts of arrays
        raise TypeError(
            f"replay buffer {type(buffer).__module__}.{type(buffer).__qualname__} is not checkpointed by metarl"
        )
    size = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {
        name: array(getattr(buffer, name)[:size], name) for name in REPLAY_ARRAYS if getattr(buffer, name) is not None
    }
    return {"pos": int(buffer.pos), "full": bool(buffer.full), **arrays}


def load_replay_state(buffer: ReplayBuffer, state: Any) -> None:
    """Write ``replay_state`` output into ``buffer`` (of the same size and spaces)."""
    names = [name for name in REPLAY_ARRAYS if getattr(buffer, name) is not None]
    keys(state, {"pos", "full", *names}, "replay")
    pos, full = check(state["pos"], int, "replay.pos"), check(state["full"], bool, "replay.full")
    if not 0 <= pos < buffer.buffer_size:
        raise ValueError(f"replay.pos is {pos}; expected 0 <= pos < {buffer.buffer_size}")
    size = buffer.buffer_size if full else pos
    for name in names:
        target = getattr(buffer, name)
        target[:size] = numpy_like(state[name], f"replay.{name}", target[:size])
    buffer.pos, buffer.full = pos, full


# ----- VecNormalize --------------------------------------------------------------------------------
def normalizer_state(normalizer: VecNormalize) -> dict[str, Tensor]:
    """VecNormalize's running statistics and running discounted returns (for reward scaling).
    ``old_obs``/``old_reward`` (the last step's raw values) are rewritten by the next step before
    anything reads them."""
    state = {"returns": array(normalizer.returns, "returns")}
    for name in ("obs_rms", "ret_rms"):
        rms = getattr(normalizer, name)
        if type(rms) is not RunningMeanStd:  # a dict of them for dict observations
            raise TypeError(f"VecNormalize.{name} is a {type(rms).__qualname__}; metarl checkpoints one RunningMeanStd")
        state |= {f"{name}.mean": array(rms.mean, name), f"{name}.var": array(rms.var, name),
                  f"{name}.count": torch.tensor(float(rms.count), dtype=torch.float64)}  # fmt: skip
    return state


def load_normalizer_state(normalizer: VecNormalize, state: Any) -> None:
    """Write ``normalizer_state`` output into ``normalizer``."""
    stats = ("obs_rms", "ret_rms")
    keys(state, {"returns", *(f"{n}.{f}" for n in stats for f in ("mean", "var", "count"))}, "normalizer")
    normalizer.returns = numpy_like(state["returns"], "normalizer.returns", normalizer.returns)
    for name in stats:
        rms = getattr(normalizer, name)
        rms.mean = numpy_like(state[f"{name}.mean"], f"normalizer.{name}.mean", rms.mean)
        rms.var = numpy_like(state[f"{name}.var"], f"normalizer.{name}.var", rms.var)
        rms.count = float(
            tensor(state[f"{name}.count"], f"normalizer.{name}.count", torch.zeros((), dtype=torch.float64))
        )
