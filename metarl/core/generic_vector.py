"""The generic batched face: N copies of a family's single env behind the ``TaskVectorEnv`` interface.

``register_family`` gives it to every family registered without a ``vector_entry_point``, so
every agent trains on a numpy ``MetaEnv`` written by hand. It is the slow-but-universal path: a
Python loop over the sub-envs (in-process, or in ``workers`` subprocesses); a native face
(``metarl.core.registry.analytic_vector_entry``, or a MuJoCo family on the ``mujoco``/``warp``
backends) is the fast one.

It behaves as the native faces do: each sub-env holds its own task (``set_task`` on its copy);
observations, rewards and flags are torch tensors on ``device``; autoreset ``same_step`` (with
``info["final_obs"]``) or ``disabled``; ``reset(options={"reset_mask"/"task"/"tasks"})``;
actions checked by ``analytic.action_tensor``. The copies are built from the entry point
directly, without gymnasium's wrappers: the episode clock of ``TaskVectorEnv`` truncates at
``max_episode_steps`` exactly as ``gymnasium.make``'s ``TimeLimit`` does (a sub-env's own
``truncated`` counts too). Seeding follows gymnasium's vector envs: ``reset(seed=s)`` resets
sub-env ``i`` with seed ``s + i``, so sub-env ``i`` replays the single env reset with ``s + i``.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import pickle
import signal
import sys
import traceback
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from gymnasium.envs.registration import load_env_creator
from gymnasium.vector import AutoresetMode

from metarl.core.analytic import action_tensor
from metarl.core.meta_env import MetaEnv
from metarl.core.tasks import Task
from metarl.core.vector import TaskVectorEnv, bytes_per_env, check_memory, check_num_envs

__all__ = ["EnvFactory", "GenericVectorEnv"]

_IMPORTABLE = "(a 'module:Class' entry point of a module on sys.path or an installed package, not __main__)"
_OBS_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)


@dataclass(frozen=True)
class EnvFactory:
    """Builds one single env: ``entry_point(**kwargs)``; a ``"module:Class"`` string is loaded
    first. Picklable when the entry point is (a string, or a class importable by its module),
    which the ``workers`` subprocesses need."""

    entry_point: str | Callable[..., gym.Env]
    kwargs: dict[str, Any] = field(default_factory=dict)

    def __call__(self) -> gym.Env:
        creator = load_env_creator(self.entry_point) if isinstance(self.entry_point, str) else self.entry_point
        return creator(**self.kwargs)


class _LocalEnvs:
    """The sub-envs in this process. Every operation takes and returns whole arrays (one row per
    sub-env), so the worker processes serve the same calls for their share of the sub-envs."""

    def __init__(self, factory: EnvFactory, n: int, first: gym.Env | None = None) -> None:
        self.envs = ([first] if first is not None else []) + [factory() for _ in range(n - (first is not None))]
        self.obs_space = self.envs[0].observation_space
        self.info_keys: tuple[str, ...] = tuple(getattr(self.envs[0], "info_keys", ()))

    def set_tasks(self, ids: Sequence[int], tasks: Sequence[Task]) -> None:
        for i, task in zip(ids, tasks):
            self.envs[i].set_task(task)

    def reset(self, ids: Sequence[int], seeds: Sequence[int | None]) -> np.ndarray:
        out = np.empty((len(ids), *self.obs_space.shape), self.obs_space.dtype)
        for j, (i, seed) in enumerate(zip(ids, seeds)):
            out[j] = self._obs(self.envs[i].reset(seed=seed)[0], i)
        return out

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        n = len(self.envs)
        obs = np.empty((n, *self.obs_space.shape), self.obs_space.dtype)
        reward, terminated, truncated = np.empty(n), np.empty(n, bool), np.empty(n, bool)
        infos = np.zeros((n, len(self.info_keys)))
        for i, env in enumerate(self.envs):
            o, reward[i], terminated[i], truncated[i], info = env.step(actions[i])
            obs[i] = self._obs(o, i)
            infos[i] = [info[k] for k in self.info_keys]
        return obs, reward, terminated, truncated, infos

    def call(self, name: str, args: tuple, kwargs: dict) -> list[Any]:
        out = []
        for env in self.envs:
            attr = getattr(env, name)
            out.append(attr(*args, **kwargs) if callable(attr) else attr)
        return out

    def close(self) -> None:
        for env in self.envs:
            env.close()

    def _obs(self, obs: Any, i: int) -> np.ndarray:
        arr = np.asarray(obs, dtype=self.obs_space.dtype)
        if arr.shape != self.obs_space.shape:
            raise ValueError(
                f"sub-env {i} returned an observation of shape {arr.shape}; its observation_space "
                f"{self.obs_space} has shape {self.obs_space.shape}"
            )
        return arr


def _serve(conn: Any, factory: EnvFactory, n: int) -> None:
    """A worker process: builds ``n`` sub-envs and answers the parent's calls until ``close``."""
    # Ctrl-C reaches the whole process group; the parent decides (a trainer finishes its
    # iteration and checkpoints, still stepping these envs), so the workers ignore it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        envs = _LocalEnvs(factory, n)
        if "torch" in sys.modules:  # K workers with a full torch thread pool each would oversubscribe the cores
            sys.modules["torch"].set_num_threads(1)
        conn.send(("ok", None))
    except BaseException as err:  # noqa: BLE001  (any failure is sent to the parent, which raises it)
        conn.send(("error", _picklable(err)))
        return
    while True:
        try:
            command, args = conn.recv()
        except EOFError:  # the parent is gone without closing us
            return
        try:
            result = getattr(envs, command)(*args)
            conn.send(("ok", result))
        except BaseException as err:  # noqa: BLE001  (raised in the parent; this worker keeps serving)
            conn.send(("error", _picklable(err)))
        if command == "close":
            return


def _picklable(err: BaseException) -> BaseException:
    """``err`` itself when it pickles (so the parent raises the same type), else a
    ``RuntimeError`` carrying its traceback."""
    try:
        pickle.dumps(err)
        return err
    except Exception:  # noqa: BLE001  (unpicklable for any reason: send the text instead)
        return RuntimeError("".join(traceback.format_exception(err)))


class _WorkerEnvs:
    """The sub-envs split into contiguous shares over ``workers`` subprocesses (``start_method``,
    default ``spawn``: safe beside torch's threads; the family's module must be importable there:
    a module on ``sys.path`` or an installed package, not ``__main__``)."""

    def __init__(self, factory: EnvFactory, n: int, workers: int, start_method: str) -> None:
        ctx = mp.get_context(start_method)
        self.shares = [s for s in np.array_split(np.arange(n), workers) if len(s)]
        self.conns, self.procs = [], []
        try:
            for share in self.shares:
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(child, factory, len(share)), daemon=True)
                self.conns.append(parent)
                self.procs.append(proc)
                try:
                    proc.start()
                except (pickle.PicklingError, AttributeError, TypeError) as err:
                    raise ValueError(f"workers need a family the subprocesses can import {_IMPORTABLE}: {err}") from err
                child.close()
            self._gather()
        except BaseException:
            self.close(force=True)
            raise

    def _send(self, command: str, per_worker: Sequence[tuple]) -> None:
        for conn, args in zip(self.conns, per_worker):
            conn.send((command, args))

    def _gather(self) -> list[Any]:
        results, error = [], None
        for conn in self.conns:  # every answer is read, so the pipes stay in step after an error
            try:
                status, value = conn.recv()
            except EOFError:
                status, value = "error", RuntimeError(
                    f"a worker process of the generic batched env died (its traceback is above); the family "
                    f"must be importable there {_IMPORTABLE}"
                )
            if status == "error" and error is None:
                error = value
            results.append(value)
        if error is not None:
            raise error
        return results

    def _split(self, ids: Sequence[int], values: Sequence[Any]) -> list[tuple[list[int], list[Any]]]:
        """``ids`` (global) and their ``values`` grouped by worker, as worker-local ids."""
        out = []
        for share in self.shares:
            start, stop = int(share[0]), int(share[-1]) + 1
            picked = [(i - start, v) for i, v in zip(ids, values) if start <= i < stop]
            out.append(([i for i, _ in picked], [v for _, v in picked]))
        return out

    def set_tasks(self, ids: Sequence[int], tasks: Sequence[Task]) -> None:
        self._send("set_tasks", self._split(ids, tasks))
        self._gather()

    def reset(self, ids: Sequence[int], seeds: Sequence[int | None]) -> np.ndarray:
        self._send("reset", self._split(ids, seeds))
        return np.concatenate([r for r in self._gather() if len(r)])

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        self._send("step", [(actions[int(s[0]) : int(s[-1]) + 1],) for s in self.shares])
        parts = self._gather()
        return tuple(np.concatenate([p[k] for p in parts]) for k in range(5))  # type: ignore[return-value]

    def call(self, name: str, args: tuple, kwargs: dict) -> list[Any]:
        self._send("call", [(name, args, kwargs)] * len(self.conns))
        return [x for part in self._gather() for x in part]

    def close(self, force: bool = False) -> None:
        if not force:
            try:
                self._send("close", [()] * len(self.conns))
                self._gather()
            except Exception:  # noqa: BLE001  (a sub-env failing to close must not keep its worker alive)
                force = True
        for proc in self.procs:
            if proc.pid is None:
                continue  # never started
            if force:
                proc.terminate()
            proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
        for conn in self.conns:
            conn.close()
        self.conns, self.procs = [], []


class GenericVectorEnv(TaskVectorEnv):
    """``num_envs`` copies of a family's single env, each on its own task, as a batched face.

    Built by ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point",
    device=...)`` for a family registered without a native face (``register_family`` then uses
    ``metarl.core.registry.generic_vector_entry``), or directly: ``GenericVectorEnv(MyEnv, 16)``.

    ``entry_point``: the single env's class (or any callable returning a ``MetaEnv``, or a
    ``"module:Class"`` string); ``family_kwargs`` go to it. ``workers=0`` (default) steps the
    sub-envs in this process; ``workers=K`` spreads them over K subprocesses (``start_method``,
    default ``"spawn"``), worth it when one step of the single env costs well above a round trip
    to a worker (about 1 ms on a loaded 2-core CPU). ``device``, ``max_episode_steps``, ``tasks``,
    ``autoreset_mode`` and ``check_actions`` as for every ``TaskVectorEnv``. Observations keep
    the observation space's dtype; rewards are float64, as the single env's Python floats.
    ``info`` holds ``final_obs``/``_final_obs`` and the family's ``info_keys`` (float64 tensors of
    the sub-envs' own ``info`` entries of that name; the rest of their infos is not batched).
    ``workers`` and ``start_method`` are this face's own options: the family never sees them.
    """

    def __init__(
        self,
        entry_point: str | Callable[..., MetaEnv],
        num_envs: int,
        device: str | torch.device = "cpu",
        max_episode_steps: int | None = None,
        tasks: list[Task] | Mapping[str, Any] | None = None,
        autoreset_mode: str = "same_step",
        check_actions: bool = True,
        workers: int = 0,
        start_method: str = "spawn",
        **family_kwargs: Any,
    ) -> None:
        num_envs = check_num_envs(num_envs)
        if not isinstance(workers, (int, np.integer)) or isinstance(workers, bool) or workers < 0:
            raise ValueError(f"workers must be a non-negative integer (0: in this process), got {workers!r}")
        factory = EnvFactory(entry_point, dict(family_kwargs))
        family = factory()  # checked before N copies are built; in-process it is sub-env 0
        _check_family(family)
        # A floor (arrays and tasks; the copies' own Python state cannot be known before they exist).
        check_memory(num_envs, bytes_per_env(family, 0, 8), torch.device("cpu"))
        self.workers = min(int(workers), num_envs)
        self._envs: _LocalEnvs | _WorkerEnvs
        if self.workers:
            self._envs = _WorkerEnvs(factory, num_envs, self.workers, start_method)
        else:
            self._envs = _LocalEnvs(factory, num_envs, first=family)
        obs_space = family.observation_space
        self._obs = np.zeros((num_envs, *obs_space.shape), obs_space.dtype)
        act_space = family.action_space
        self._action_dtype = torch.int64 if isinstance(act_space, spaces.Discrete) else _torch_dtype(act_space.dtype)
        self._reset_seed: int | None = None
        # Tasks are held in float64 on the CPU, so every task reaches its sub-env exactly as given.
        try:
            super().__init__(
                family, num_envs, device, max_episode_steps, tasks, autoreset_mode,
                sim_dtype=torch.float64, sim_device="cpu", check_actions=check_actions,
            )  # fmt: skip
        except BaseException:
            self._envs.close()  # e.g. invalid tasks: stop the workers at once
            raise

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict]:
        """As ``TaskVectorEnv.reset``; with ``seed=s`` sub-env ``i`` is reset with seed ``s + i``,
        without a seed each selected sub-env continues its own random stream."""
        self._reset_seed = seed
        try:
            return super().reset(seed=seed, options=options)
        finally:
            self._reset_seed = None

    def step(self, actions: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Step every sub-env; returns tensors ``obs, reward, terminated, truncated, info``."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        act = action_tensor(
            actions, self.single_action_space, self.num_envs, "cpu", self._action_dtype, self.check_actions
        ).numpy()
        obs, reward, terminated, own_truncation, infos = self._envs.step(act)
        self._obs = obs
        self._elapsed += 1
        truncated = torch.from_numpy(own_truncation)  # TimeLimit ORs the env's own truncation in
        if self.max_episode_steps is not None:
            truncated = truncated | (self._elapsed >= self.max_episode_steps)
        terminated_t = torch.from_numpy(terminated)
        info = {k: torch.from_numpy(infos[:, j].copy()) for j, k in enumerate(self.family.info_keys)}
        if self.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP:
            done = terminated_t | truncated
            info |= {"final_obs": torch.from_numpy(obs.copy()), "_final_obs": done}
            if bool(done.any()):
                self._reset_state(done)
                self._elapsed.masked_fill_(done, 0)
        out = (self._observe(), torch.from_numpy(reward), terminated_t, truncated)
        return (*(t.to(self.device) for t in out), {k: v.to(self.device) for k, v in info.items()})  # type: ignore[return-value]

    def call(self, name: str, *args: Any, **kwargs: Any) -> tuple[Any, ...]:
        """``name`` of every sub-env: the method called with ``args``/``kwargs``, or the attribute."""
        return tuple(self._envs.call(name, args, kwargs))

    def close_extras(self, **kwargs: Any) -> None:
        """Close the sub-envs (and stop the worker processes)."""
        self._envs.close()

    def __del__(self) -> None:
        # Stop the workers of an env nobody closed; at interpreter exit this may find half the
        # world gone, and the daemon processes die with the parent anyway.
        if not getattr(self, "closed", True) and hasattr(self, "_envs"):
            with contextlib.suppress(Exception):
                self.close()

    # ----- TaskVectorEnv hooks ----------------------------------------------------------------------
    def _on_tasks_changed(self, mask: torch.Tensor) -> None:
        ids = mask.nonzero().flatten().tolist()
        rows = {k: v[mask].numpy() for k, v in self._tasks.items()}
        self._envs.set_tasks(ids, [{k: v[j] for k, v in rows.items()} for j in range(len(ids))])

    def _reset_state(self, mask: torch.Tensor) -> None:
        ids = mask.nonzero().flatten().tolist()
        if ids:
            seed = self._reset_seed
            self._obs[ids] = self._envs.reset(ids, [None if seed is None else seed + i for i in ids])

    def _observe(self) -> torch.Tensor:
        return torch.from_numpy(self._obs.copy())


def _torch_dtype(dtype: Any) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype)).dtype


def _check_family(env: Any) -> None:
    """``TypeError`` unless ``env`` is a ``MetaEnv`` the generic face can batch."""
    name = type(env).__name__
    if not isinstance(env, MetaEnv):
        raise TypeError(
            f"the generic batched face needs a metarl.MetaEnv (task sets, task validation); {name} is not one: "
            "subclass metarl.MetaEnv or register a vector_entry_point of your own"
        )
    if not isinstance(env.observation_space, _OBS_SPACES):
        raise TypeError(
            f"the generic batched face needs array observations (Box, Discrete, MultiDiscrete, MultiBinary); "
            f"{name} has {env.observation_space}"
        )
    if not isinstance(env.action_space, (spaces.Box, spaces.Discrete)):
        raise TypeError(f"the generic batched face needs Box or Discrete actions; {name} has {env.action_space}")
