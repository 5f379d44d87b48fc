"""The batched face of a family: a ``gymnasium.vector.VectorEnv`` of torch tensors on a device.

Each sub-environment holds its own task (``set_tasks``); resets never change tasks, since a
meta-RL trial is several episodes on one task. Autoreset follows gymnasium's modes
(``metadata["autoreset_mode"]``): ``SAME_STEP`` (default) returns the first observation of the
next episode in the step that ended one, with the last observation in ``info["final_obs"]``
(rows valid where ``info["_final_obs"]``); ``DISABLED`` leaves finished sub-envs to the caller,
who resets them with ``reset(options={"reset_mask": mask})``.

Bad input is refused before anything changes: actions of the wrong shape, dtype or value
(``analytic.action_tensor``), invalid tasks (validated in one vectorised pass per parameter,
``MetaEnv.validate_task_batch``), unknown reset options, and a ``num_envs`` whose estimated
memory exceeds what the device has available (``check_memory``).
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from metarl.core.analytic import AnalyticEnv, action_tensor
from metarl.core.meta_env import MetaEnv
from metarl.core.tasks import Task, TaskBatch, stack_task_list, tasks_to_tensors

AUTORESET_MODES = {"same_step": AutoresetMode.SAME_STEP, "disabled": AutoresetMode.DISABLED}
#: Keys ``reset(options=...)`` of a batched env understands.
RESET_OPTIONS = ("reset_mask", "task", "tasks")


def resolve_device(device: str | torch.device) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else as ``torch.device``."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was requested but CUDA is not available; allowed: 'cpu', 'auto'")
    return device


def check_num_envs(num_envs: Any) -> int:
    """``num_envs`` as an int; ``ValueError`` unless it is a positive integer."""
    if not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
        raise ValueError(f"num_envs must be a positive integer, got {num_envs!r}")
    return int(num_envs)


def mask_tensor(mask: Any, num_envs: int, device: torch.device) -> torch.Tensor:
    """A boolean ``(num_envs,)`` mask on ``device`` (``None`` selects every sub-env)."""
    if mask is None:
        return torch.ones(num_envs, dtype=torch.bool, device=device)
    out = torch.as_tensor(np.asarray(mask) if not isinstance(mask, torch.Tensor) else mask, device=device)
    if out.shape != (num_envs,) or out.dtype != torch.bool:
        raise ValueError(f"env mask must be a bool array of shape ({num_envs},), got {out.dtype} {tuple(out.shape)}")
    return out


def available_memory(device: torch.device) -> int | None:
    """Bytes available for new allocations on ``device``, or ``None`` where unknown: free CUDA
    memory, or the host's ``MemAvailable`` (``/proc/meminfo``; else free physical pages)."""
    if device.type == "cuda":
        return int(torch.cuda.mem_get_info(device)[0])
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def bytes_per_env(family: MetaEnv, state_bytes: int, float_bytes: int) -> int:
    """A rough, deliberately simple estimate of the memory one sub-env takes in a batched face.

    ``state_bytes``: the simulation state of one sub-env; ``float_bytes``: the size of the
    simulation's floats (tasks and Box actions take it). Counted: the state twice (a step builds
    the next one beside the current), the observation three times (returned, ``final_obs`` of a
    same-step autoreset, a fresh reset's), the action twice (tensor and check temporaries), the
    task twice (tensors and the validated batch they are built from), and 32 bytes of clocks,
    rewards, flags and masks.
    """
    obs_space, act_space = family.observation_space, family.action_space
    obs = int(np.prod(obs_space.shape)) * np.dtype(obs_space.dtype).itemsize
    act = 8 if isinstance(act_space, spaces.Discrete) else int(np.prod(act_space.shape)) * float_bytes
    task = sum(
        int(np.prod(sub.shape)) * (float_bytes if isinstance(sub, spaces.Box) else 8)
        for sub in family.task_space.spaces.values()
    )
    return 2 * state_bytes + 3 * obs + 2 * act + 2 * task + 32


def check_memory(num_envs: int, per_env: int, device: torch.device) -> None:
    """``ValueError`` at once, before allocating, when ``num_envs`` sub-envs of ``per_env`` bytes
    each would exceed the memory available on ``device`` (no check where that is unknown)."""
    available = available_memory(device)
    need = num_envs * per_env
    if available is not None and need > available:
        raise ValueError(
            f"num_envs={num_envs:,} needs about {_gib(need)} on {device} (estimate: {per_env:,} bytes per sub-env "
            f"for state, observations, actions and tasks) but only {_gib(available)} is available; "
            f"use at most about {available // per_env:,} sub-envs on this machine"
        )


def _gib(n: int) -> str:
    return f"{n / 2**30:.2f} GiB"


def _reset_options(options: Any) -> Mapping[str, Any]:
    """``options`` of a batched reset, checked: ``None`` or a dict with keys in ``RESET_OPTIONS``."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise TypeError(
            f"reset options must be a dict or None, got {type(options).__name__} ({reprlib.repr(options)}); "
            f"allowed keys: {list(RESET_OPTIONS)}"
        )
    for key in options:
        if key not in RESET_OPTIONS:
            raise ValueError(f"unknown reset option {key!r}; allowed keys: {list(RESET_OPTIONS)}")
    if options.get("task") is not None and options.get("tasks") is not None:
        raise ValueError("reset options 'task' (one task for all selected sub-envs) and 'tasks' (one per sub-env) "
                         "exclude each other; give one of them")  # fmt: skip
    return options


class TaskVectorEnv(VectorEnv):
    """Base of the batched faces: tasks per sub-env, episode clocks, autoreset and seeding.

    Subclasses implement ``_reset_state(mask)`` (start new episodes where ``mask``),
    ``_step_state(actions)`` -> (reward, terminated), ``_observe()`` and ``_on_tasks_changed``,
    and call ``check_memory`` before they allocate their state.

    ``check_actions`` (default ``True``): check the values of the actions of every step (Discrete:
    integers in range; Box: finite; see ``analytic.action_tensor``). Actions given as CUDA tensors
    then cost one device->host synchronisation per step (one reduction over the batch read back);
    host arrays cost none. ``False`` skips the value checks for the last bit of GPU throughput: an out-of-range
    Discrete action may then index out of bounds and a NaN action poisons the sub-env's state until
    its next reset. The shape and dtype checks are always on (they read no values).
    """

    def __init__(
        self,
        family: MetaEnv,
        num_envs: int,
        device: str | torch.device,
        max_episode_steps: int | None,
        tasks: list[Task] | Mapping[str, Any] | None,
        autoreset_mode: str,
        sim_dtype: torch.dtype = torch.float32,
        sim_device: str | torch.device | None = None,
        check_actions: bool = True,
    ) -> None:
        self.num_envs = check_num_envs(num_envs)
        self.check_actions = bool(check_actions)
        if autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode must be one of {list(AUTORESET_MODES)}, got {autoreset_mode!r}")
        if max_episode_steps is not None and max_episode_steps < 1:
            raise ValueError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        self.family = family
        self.device = resolve_device(device)
        self.max_episode_steps = max_episode_steps
        self._sim_dtype = sim_dtype  # float dtype of the simulation: tasks and actions take it
        # Where the simulation (its state, tasks and RNG) lives; results are moved to self.device.
        self.sim_device = torch.device(sim_device) if sim_device is not None else self.device
        self.metadata = {"autoreset_mode": AUTORESET_MODES[autoreset_mode]}
        self.task_space = family.task_space
        self.single_observation_space = family.observation_space
        self.single_action_space = family.action_space
        self._batched_spaces: dict[str, spaces.Space] = {}  # built on first use (see observation_space)
        self._elapsed = torch.zeros(self.num_envs, dtype=torch.int64, device=self.sim_device)
        self._generator: torch.Generator | None = None
        self._needs_reset = True
        self._tasks: TaskBatch = {}
        if tasks is None:
            # Sub-env i starts on training task i mod len(train): the stacked, validated set, tiled
            # on the device (only the set itself travels there).
            train = tasks_to_tensors(family.task_set_batch("train"), self.sim_device, self._sim_dtype)
            size = len(next(iter(train.values())))
            reps = -(-self.num_envs // size)
            self._tasks = {k: v.repeat(reps, *[1] * (v.ndim - 1))[: self.num_envs] for k, v in train.items()}
            self._on_tasks_changed(mask_tensor(None, self.num_envs, self.sim_device))
        else:
            self.set_tasks(tasks)

    # ----- spaces -----------------------------------------------------------------------------------
    # The batched spaces are built on first access: gymnasium's batch_space materialises bounds of
    # shape (num_envs, ...) and checks them, seconds at millions of sub-envs that most uses never need.
    @property
    def observation_space(self) -> spaces.Space:  # type: ignore[override]
        """The batched observation space (``batch_space`` of ``single_observation_space``)."""
        if "observation" not in self._batched_spaces:
            self._batched_spaces["observation"] = batch_space(self.single_observation_space, self.num_envs)
        return self._batched_spaces["observation"]

    @observation_space.setter
    def observation_space(self, space: spaces.Space) -> None:
        self._batched_spaces["observation"] = space

    @property
    def action_space(self) -> spaces.Space:  # type: ignore[override]
        """The batched action space (``batch_space`` of ``single_action_space``)."""
        if "action" not in self._batched_spaces:
            self._batched_spaces["action"] = batch_space(self.single_action_space, self.num_envs)
        return self._batched_spaces["action"]

    @action_space.setter
    def action_space(self, space: spaces.Space) -> None:
        self._batched_spaces["action"] = space

    # ----- tasks ----------------------------------------------------------------------------------
    def set_tasks(self, tasks: list[Task] | Mapping[str, Any], env_mask: Any = None) -> None:
        """Give the selected sub-envs new tasks (a list, or a dict of arrays/tensors with a leading
        dim equal to the number of selected sub-envs). Takes effect from the next step; the
        episodes in progress are not reset. Validated as one batch (one vectorised check per
        parameter); an invalid task is a ``ValueError`` and changes nothing. A ``TaskBatch`` this
        env's family validated (``sample_task_batch``, ``task_set_batch``) is taken as it is."""
        mask = mask_tensor(env_mask, self.num_envs, self.sim_device)
        batch = self._validated_tasks(tasks, int(mask.sum()))
        if batch is not None:
            self._assign_tasks(batch, None if env_mask is None else mask)

    def _validated_tasks(self, tasks: Any, selected: int) -> Mapping[str, np.ndarray | torch.Tensor] | None:
        """``tasks`` for ``selected`` sub-envs as a validated batch (``None``: no sub-env selected)."""
        if isinstance(tasks, TaskBatch) and tasks.validated_by is self.family:  # checked where it entered
            batch, count = tasks, tasks.n
        elif isinstance(tasks, Mapping):  # a batch: validated as it is, never split into task dicts
            batch = self.family.validate_task_batch(tasks)
            count = len(next(iter(batch.values())))
        elif isinstance(tasks, Sequence) and not isinstance(tasks, (str, bytes)):
            count = len(tasks)
            batch = None
            if count == selected and count > 0:
                batch = self.family.validate_task_batch(stack_task_list(tasks, self.task_space))
        else:
            raise TypeError(
                f"tasks must be a list of task dicts or a dict of arrays with a leading task dimension, "
                f"got {type(tasks).__name__}"
            )
        if count != selected:
            raise ValueError(f"got {count} tasks for {selected} selected sub-envs; give one task per sub-env")
        return batch if selected > 0 else None

    def _assign_tasks(self, batch: Mapping[str, np.ndarray | torch.Tensor], mask: torch.Tensor | None) -> None:
        """Store validated tasks for the sub-envs in ``mask`` (``None``: all); a leading dim of 1
        broadcasts one task to all of them."""
        tensors = tasks_to_tensors(batch, self.sim_device, self._sim_dtype)
        if not self._tasks:  # construction: every sub-env (the validated arrays are fresh copies)
            self._tasks = {k: v.expand(self.num_envs, *v.shape[1:]).contiguous() for k, v in tensors.items()}
        elif mask is None:
            for k, v in tensors.items():
                self._tasks[k].copy_(v)
        else:
            for k, v in tensors.items():
                self._tasks[k][mask] = v
        self._on_tasks_changed(mask if mask is not None else mask_tensor(None, self.num_envs, self.sim_device))

    def get_tasks(self) -> TaskBatch:
        """The tasks of all sub-envs, tensors with leading dim ``num_envs`` on ``device`` (a copy)."""
        return TaskBatch({k: v.to(self.device, copy=True) for k, v in self._tasks.items()}, self.family)

    def task_set(self, split: str) -> list[Task]:
        """The family's fixed task set ``split`` (see ``MetaEnv.task_set``)."""
        return self.family.task_set(split)

    def task_set_batch(self, split: str) -> TaskBatch:
        """The task set ``split`` as one validated batch on ``device``, ready for ``set_tasks``."""
        return self._batch(self.family.task_set_batch(split))

    def sample_tasks(self, n: int, seed: int | None = None, distribution: str = "train") -> list[Task]:
        """Draw ``n`` tasks from the family's distribution (see ``MetaEnv.sample_tasks``)."""
        return self.family.sample_tasks(n, seed, distribution)

    def sample_task_batch(self, n: int, seed: int | None = None, distribution: str = "train") -> TaskBatch:
        """As ``sample_tasks``, as one validated batch on ``device``, ready for ``set_tasks``."""
        return self._batch(self.family.sample_task_batch(n, seed, distribution))

    def _batch(self, validated: Mapping[str, np.ndarray]) -> TaskBatch:
        # The validated arrays keep the task space's dtypes; set_tasks casts to the simulation's.
        return TaskBatch({k: torch.as_tensor(v).to(self.device) for k, v in validated.items()}, self.family)

    # ----- episodes -------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[torch.Tensor, dict]:
        """Start new episodes in every sub-env, or where ``options["reset_mask"]``.

        ``options`` (a dict, keys ``RESET_OPTIONS``): ``reset_mask`` (bool ``(num_envs,)``),
        ``task`` (one task for every selected sub-env) or ``tasks`` (one per selected sub-env, as
        ``set_tasks``). Everything is checked before anything changes: a non-dict is a
        ``TypeError``, an unknown key or an invalid task a ``ValueError``.
        """
        opts = _reset_options(options)
        mask = mask_tensor(opts.get("reset_mask"), self.num_envs, self.sim_device)
        batch = None
        if opts.get("task") is not None:
            one = self.family.validate_task(opts["task"])
            batch = {k: v[None] for k, v in one.items()}  # broadcast to the selected sub-envs
        elif opts.get("tasks") is not None:
            batch = self._validated_tasks(opts["tasks"], int(mask.sum()))
        if seed is not None:
            self._np_random, self._np_random_seed = np.random.default_rng(seed), seed
        if seed is not None or self._generator is None:
            # Same derivation as the single env, so one sub-env with seed s equals the single env.
            self._generator = torch.Generator(self.sim_device).manual_seed(int(self.np_random.integers(2**62)))
        if batch is not None:
            self._assign_tasks(batch, None if opts.get("reset_mask") is None else mask)
        self._reset_state(mask)
        self._elapsed.masked_fill_(mask, 0)
        self._needs_reset = False
        return self._observe().to(self.device), {}

    def step(self, actions: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Step every sub-env; returns tensors ``obs, reward, terminated, truncated, info``."""
        if self._needs_reset:
            raise RuntimeError("call reset() before step()")
        act = action_tensor(
            actions, self.single_action_space, self.num_envs, self.sim_device, self._sim_dtype, self.check_actions
        )
        reward, terminated = self._step_state(act)
        self._elapsed += 1
        if self.max_episode_steps is None:
            truncated = torch.zeros_like(terminated)
        else:
            truncated = self._elapsed >= self.max_episode_steps  # as gymnasium's TimeLimit
        obs, info = self._observe(), {}
        if self.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP:
            done = terminated | truncated
            info = {"final_obs": obs, "_final_obs": done}
            self._reset_state(done)
            self._elapsed.masked_fill_(done, 0)
            obs = self._observe()
        if self.sim_device != self.device:
            obs, reward, terminated, truncated = (t.to(self.device) for t in (obs, reward, terminated, truncated))
            info = {k: v.to(self.device) for k, v in info.items()}
        return obs, reward, terminated, truncated, info

    # ----- subclass hooks -------------------------------------------------------------------------
    def _on_tasks_changed(self, mask: torch.Tensor) -> None:
        """React to new tasks of the sub-envs in ``mask`` (e.g. write model fields)."""

    def _reset_state(self, mask: torch.Tensor) -> None:
        raise NotImplementedError

    def _step_state(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError

    def _observe(self) -> torch.Tensor:
        raise NotImplementedError


class AnalyticVectorEnv(TaskVectorEnv):
    """Batched face of an analytic family: its torch dynamics over ``num_envs`` sub-envs.

    Built by ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point",
    device=...)``; extra keyword arguments go to the family (e.g. ``num_arms``).
    ``check_actions``: see ``TaskVectorEnv`` (on by default; off saves one CUDA synchronisation
    per step when actions are CUDA tensors).
    """

    def __init__(
        self,
        family_cls: type[AnalyticEnv],
        num_envs: int,
        device: str | torch.device = "cpu",
        max_episode_steps: int | None = None,
        tasks: list[Task] | Mapping[str, Any] | None = None,
        autoreset_mode: str = "same_step",
        check_actions: bool = True,
        **family_kwargs: Any,
    ) -> None:
        num_envs = check_num_envs(num_envs)
        family = family_cls(**family_kwargs)
        self.dynamics = family.dynamics
        self._state: torch.Tensor | None = None
        # The state of one sub-env, from the family's own (single) env: before allocating N of them.
        one = family.dynamics.initial_state(tasks_to_tensors([family.get_task()]), torch.Generator().manual_seed(0))
        state_bytes = one.element_size() * one[0].numel()
        check_memory(num_envs, bytes_per_env(family, state_bytes, 4), resolve_device(device))
        super().__init__(
            family, num_envs, device, max_episode_steps, tasks, autoreset_mode, check_actions=check_actions
        )

    def _reset_state(self, mask: torch.Tensor) -> None:
        fresh = self.dynamics.initial_state(self._tasks, self._generator)
        if self._state is None:
            self._state = fresh
        else:  # elementwise select: far faster than boolean-mask indexing at millions of sub-envs
            self._state = torch.where(mask.view(-1, *[1] * (fresh.ndim - 1)), fresh, self._state)

    def _step_state(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self._state, reward, terminated = self.dynamics.step(self._state, actions, self._tasks, self._generator)
        return reward, terminated

    def _observe(self) -> torch.Tensor:
        return self.dynamics.observe(self._state, self._tasks)
