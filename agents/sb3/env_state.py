"""The sub-envs of an SB3 training run in the middle of their episodes, as tensors and plain values.

``env_state`` walks one training env layer by layer, outermost first, and ``load_env_state``
writes the result into an env built with the same wrappers (see ``agents/sb3/state.py`` for why
nothing is pickled). Each layer is known by its type:

- wrappers, by exact type (a subclass may keep state these do not know): SB3's ``Monitor``
  (episode accumulators), gymnasium's ``TimeLimit``, ``OrderEnforcing`` and
  ``PassiveEnvChecker`` (counters and flags), metarl's ``MultiTaskWrapper`` and ``TrialWrapper``
  (task stream; the trial's returns so far) and ``TaskObservationWrapper`` (no state);
- the family env: its task (restored through ``set_task``, which validates it), gymnasium's
  ``np_random``, and its episode: an ``AnalyticEnv``'s state tensor and torch generator, or a
  MuJoCo env's integration state (``mj_getState``: time, qpos, qvel, act, warm start, controls,
  ...) with the quantities MuJoCo derived at the last step, which the next step reads before it
  simulates (e.g. the centre of mass a velocity reward starts from), or what the family's own
  ``episode_state`` returns (Meta-World's: its Farama env's physics and attributes).

Any other type is a ``TypeError`` naming it when the state is saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import mujoco
import numpy as np
import torch
from gymnasium.envs.mujoco.mujoco_env import MujocoEnv
from gymnasium.wrappers.common import OrderEnforcing, PassiveEnvChecker, TimeLimit
from metarl.agents.sb3.state import PLAIN, array, check, keys, numpy_like, rng_state, set_rng, tensor
from stable_baselines3.common.monitor import Monitor

from metarl.core.analytic import AnalyticEnv
from metarl.core.meta_env import MetaEnv
from metarl.core.wrappers import MultiTaskWrapper, TaskObservationWrapper, TrialWrapper

__all__ = ["env_state", "load_env_state", "mjdata_float_fields"]

#: The single-bit elements of MuJoCo's integration state: what ``mj_step`` needs to continue bit-exactly.
MJ_INTEGRATION = [e for name, e in mujoco.mjtState.__members__.items() if name != "mjNSTATE"
                  and int(e).bit_count() == 1 and int(e) & int(mujoco.mjtState.mjSTATE_INTEGRATION)]  # fmt: skip


# ----- sub-envs, layer by layer ----------------------------------------------------------------------
def _attributes(**specs: Any) -> tuple[Callable, Callable]:
    """Save and load functions of a layer whose state is plain attributes of the given types."""

    def save(obj: Any) -> dict[str, Any]:
        return {
            name: check(getattr(obj, name), spec, f"{type(obj).__qualname__}.{name}") for name, spec in specs.items()
        }

    def load(obj: Any, state: dict[str, Any]) -> None:
        for name, spec in specs.items():
            setattr(obj, name, check(state[name], spec, f"{type(obj).__qualname__}.{name}"))

    return save, load


def _with_sampler(save_load: tuple[Callable, Callable]) -> tuple[Callable, Callable]:
    """Adds the task stream of a wrapper's ``TaskSampler``."""
    save_attributes, load_attributes = save_load

    def save(obj: Any) -> dict[str, Any]:
        return {**save_attributes(obj), "task_rng": rng_state(obj.sampler.rng)}

    def load(obj: Any, state: dict[str, Any]) -> None:
        load_attributes(obj, state)
        set_rng(obj.sampler.rng, state["task_rng"], "task_rng")

    return save, load


def _save_monitor(obj: Monitor) -> dict[str, Any]:
    if obj.results_writer is not None:  # an open file: a resumed run would need to reopen and append to it
        raise TypeError("a Monitor writing a results file is not checkpointed by metarl")
    return MONITOR[0](obj)


def _load_checker(obj: PassiveEnvChecker, state: dict[str, Any]) -> None:
    CHECKER[1](obj, state)
    # The data-reuse check compares a step's data with the previous call's, which is not carried; skip it.
    obj._previous_data = None
    obj.checked_data_reuse = obj.checked_data_reuse or obj.checked_step


MONITOR = _attributes(
    needs_reset=bool, total_steps=int, rewards=[float], episode_returns=[float], episode_lengths=[int],
    episode_times=[float], t_start=float, current_reset_info=PLAIN,
)  # fmt: skip
CHECKER = _attributes(
    checked_reset=bool, checked_step=bool, checked_render=bool, close_called=bool, checked_data_reuse=bool
)
#: Wrappers (by exact type: a subclass may keep state these do not know) and their state.
WRAPPERS: dict[type, tuple[Callable, Callable]] = {
    Monitor: (_save_monitor, MONITOR[1]),
    TimeLimit: _attributes(_elapsed_steps=(int, None)),
    OrderEnforcing: _attributes(_has_reset=bool),
    PassiveEnvChecker: (CHECKER[0], _load_checker),
    MultiTaskWrapper: _with_sampler(_attributes()),
    TrialWrapper: _with_sampler(_attributes(_returns=[float], _lengths=[int], _return=float, _length=int)),
    TaskObservationWrapper: _attributes(),
}


def _save_family(env: MetaEnv) -> dict[str, Any]:
    """What every family env carries: its task and gymnasium's ``np_random``."""
    generator = env._np_random
    return {
        "task": {name: array(np.asarray(value), f"task {name}") for name, value in env.get_task().items()},
        "np_random": None if generator is None else rng_state(generator),
        "np_random_seed": check(env._np_random_seed, (int, None), "np_random_seed"),
    }


def _load_family(env: MetaEnv, state: dict[str, Any]) -> None:
    task = keys(state["task"], set(env.task_space.spaces), "task")
    env.set_task({name: tensor(value, f"task {name}").numpy() for name, value in task.items()})  # validates the task
    if state["np_random"] is None:
        env._np_random = None
    else:
        generator = env._np_random if env._np_random is not None else np.random.default_rng()
        set_rng(generator, state["np_random"], "np_random")
        env._np_random = generator
    env._np_random_seed = check(state["np_random_seed"], (int, None), "np_random_seed")


def _save_analytic(env: AnalyticEnv) -> dict[str, Any]:
    return {**_save_family(env), "state": None if env._state is None else array(env._state, "state"),
            "generator": None if env._generator is None else env._generator.get_state()}  # fmt: skip


def _load_analytic(env: AnalyticEnv, state: dict[str, Any]) -> None:
    _load_family(env, state)
    env._state = None if state["state"] is None else tensor(state["state"], "state").clone()
    env._generator = None
    if state["generator"] is not None:
        env._generator = torch.Generator()
        env._generator.set_state(tensor(state["generator"], "generator"))


def mjdata_float_fields(model: mujoco.MjModel, data: mujoco.MjData) -> list[str]:
    """The fixed-size floating-point arrays of ``data``: the simulation state and every quantity
    derived from it (positions, velocities, forces, ...), but not the per-step constraint arrays
    (``efc_*``, sized by the contacts of the moment), which ``mj_step`` rebuilds. Integer arrays
    are left out on purpose: they are indices MuJoCo trusts, recomputed at every step."""
    fresh = mujoco.MjData(model)  # sizes of a fresh MjData are the model's, not the current contacts'
    names = []
    for name in dir(fresh):
        ref = getattr(fresh, name, None) if not name.startswith("_") else None
        is_float = isinstance(ref, np.ndarray) and ref.size and np.issubdtype(ref.dtype, np.floating)
        if is_float and getattr(data, name).shape == ref.shape:
            names.append(name)
    return names


def _save_mujoco(env: MujocoEnv) -> dict[str, Any]:
    model, data = env.model, env.data
    integration = {}
    for element in MJ_INTEGRATION:
        values = np.empty(mujoco.mj_stateSize(model, element))
        mujoco.mj_getState(model, data, values, element)
        integration[element.name] = torch.from_numpy(values)
    # Besides the integration state, the quantities MuJoCo derived at the last step: an env reads
    # some before its next mj_step (e.g. the centre of mass a velocity reward starts from).
    derived = {name: array(getattr(data, name), name) for name in mjdata_float_fields(model, data)}
    return {**_save_family(env), "integration": integration, "derived": derived}


def _load_mujoco(env: MujocoEnv, state: dict[str, Any]) -> None:
    _load_family(env, state)
    model, data = env.model, env.data
    allowed = set(mjdata_float_fields(model, data))
    derived = check(state["derived"], dict, "derived")
    if not set(derived) <= allowed:
        raise ValueError(
            f"derived MjData fields {sorted(map(str, set(derived) - allowed))} are not fixed-size float arrays"
        )
    for name, value in derived.items():
        target = getattr(data, name)
        target[...] = numpy_like(value, f"MjData.{name}", target)
    integration = keys(state["integration"], {e.name for e in MJ_INTEGRATION}, "integration")
    for element in MJ_INTEGRATION:  # after the derived fields: the integration state is the authority
        like = np.empty(mujoco.mj_stateSize(model, element))
        mujoco.mj_setState(model, data, numpy_like(integration[element.name], element.name, like), element)


def _save_episode(env: MetaEnv) -> dict[str, Any]:
    episode = env.episode_state()
    return {**_save_family(env), "episode": _tree(episode, "episode", array)}


def _load_episode(env: MetaEnv, state: dict[str, Any]) -> None:
    _load_family(env, state)
    env.load_episode_state(_tree(check(state["episode"], dict, "episode"), "episode", lambda v, w: tensor(v, w).numpy()))


def _tree(value: Any, where: str, leaf: Callable) -> Any:
    """A family's episode state with its arrays converted by ``leaf`` (to tensors and back); the
    rest must be plain values."""
    if isinstance(value, dict):
        return {check(k, str, f"{where} key"): _tree(v, f"{where}[{k!r}]", leaf) for k, v in value.items()}
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return leaf(value, where)
    return check(value, PLAIN, where)


def _layer(obj: gym.Env) -> tuple[Callable, Callable]:
    """The save and load functions of one layer of a training env."""
    if type(obj) in WRAPPERS:
        save, load = WRAPPERS[type(obj)]
    elif isinstance(obj, AnalyticEnv):  # a family keeps its episode in _state and _generator
        save, load = _save_analytic, _load_analytic
    elif isinstance(obj, MujocoEnv) and isinstance(obj, MetaEnv):  # ... or in its MjData
        save, load = _save_mujoco, _load_mujoco
    elif isinstance(obj, MetaEnv) and callable(getattr(obj, "episode_state", None)):  # ... or says it (Meta-World)
        save, load = _save_episode, _load_episode
    else:
        raise TypeError(f"{type(obj).__module__}.{type(obj).__qualname__} is not a wrapper or env whose state metarl "
                        f"can checkpoint (known: {', '.join(t.__qualname__ for t in WRAPPERS)}, AnalyticEnv, "
                        "MuJoCo families, families with episode_state)")  # fmt: skip
    return save, load


def _layers(env: gym.Env) -> list[gym.Env]:
    layers = [env]
    while isinstance(layers[-1], gym.Wrapper):
        layers.append(layers[-1].env)
    return layers


def _name(obj: Any) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


#: Where env layers lived before metarl's layered layout: checkpoints that name them still load.
_MOVED = {"metarl.wrappers.": "metarl.core.wrappers."}


def _current(type_name: str) -> str:
    """The present name of a layer type a checkpoint recorded."""
    old = next((o for o in _MOVED if type_name.startswith(o)), None)
    return type_name if old is None else _MOVED[old] + type_name[len(old) :]


def env_state(env: gym.Env) -> list[dict[str, Any]]:
    """One training env in the middle of its episode: the state of each layer, outermost first."""
    return [{"type": _name(layer), **_layer(layer)[0](layer)} for layer in _layers(env)]


def load_env_state(env: gym.Env, state: Any) -> None:
    """Write ``env_state`` output into ``env``, built with the same wrappers."""
    layers = _layers(env)
    if type(state) is not list or len(state) != len(layers):
        raise ValueError(f"the checkpoint's env state must list {len(layers)} layers: {[_name(x) for x in layers]}")
    saves = [_layer(layer)[0](layer) for layer in layers]  # the layout this env has now, to check against
    for layer, saved, now in zip(layers, state, saves):
        keys(saved, {"type", *now}, f"env layer {_name(layer)}")
        if _current(saved["type"]) != _name(layer):
            raise ValueError(f"the checkpoint's env layer is {saved['type']!r}; this run's is {_name(layer)!r}")
    for layer, saved in zip(layers, state):
        _layer(layer)[1](layer, saved)
