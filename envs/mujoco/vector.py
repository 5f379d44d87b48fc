"""Batched face of the MuJoCo families: all worlds stepped together, torch tensors end to end.

Backend ``mujoco``: MuJoCo C on the CPU through ``mujoco.batch.Batch`` (a native thread pool
with the GIL released). The backend's live state and output arrays are viewed by torch without a copy;
observation, reward and termination are the family's torch definition, the same code the single
env runs with a batch of one; per-world task parameters of the random-parameter families are
per-world model fields (``Batch.expand``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import mujoco
import numpy as np
import torch
from mujoco.batch import Batch

from metarl.core.tasks import Task
from metarl.core.vector import (
    TaskVectorEnv,
    bytes_per_env,
    check_memory,
    check_num_envs,
    mask_tensor,
    resolve_device,
)

from .base import MujocoMetaEnv
from .definitions import RAND_PARAM_FIELDS, SimState, scaled_model_fields

#: SimState fields that are model fields rather than simulation outputs.
MODEL_FIELDS = ("body_mass",)


def tensor_view(array: np.ndarray) -> torch.Tensor:
    """A tensor sharing memory with ``array`` (read-only outputs included: torch only reads them)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "non-writable array": we never write these
        return torch.from_numpy(array)


class MujocoBatchBackend:
    """``mujoco`` backend: MuJoCo C worlds on a CPU thread pool (``mujoco.batch.Batch``).

    A backend exposes live tensors of the simulation (``data_field``, ``model_field``) and the
    operations of one batch: ``reset`` (mj_resetData), ``forward`` and ``step`` on world ids.
    Tensors live on ``device`` and view the simulator's memory without copies.
    """

    device = torch.device("cpu")
    dtype = torch.float64

    def __init__(self, model: mujoco.MjModel, num_worlds: int, num_threads: int = 0, device: Any = "cpu") -> None:
        # ``device`` is accepted for a uniform backend signature: MuJoCo C always runs on the
        # CPU, and the env moves its results to the requested device.
        self.batch = Batch(model, nsim=num_worlds, nthread=num_threads)
        self.model = model

    def data_field(self, name: str) -> torch.Tensor:
        """Live ``(N, ...)`` tensor of an MjData field (state fields writable)."""
        return tensor_view(self.batch.bind(name))

    def model_field(self, name: str, per_world: bool) -> torch.Tensor:
        """Live model field: ``(N, ...)`` per-world values (writable) or ``(1, ...)`` shared ones."""
        if per_world:
            return tensor_view(self.batch.expand(name))
        return torch.from_numpy(getattr(self.model, name))[None]

    def reset(self, ids: torch.Tensor) -> None:
        """mj_resetData on worlds ``ids`` (a 1-D int64 tensor), without the forward pass."""
        self.batch.reset(ids.numpy(), stage=mujoco.mjtStage.mjSTAGE_NONE)

    def forward(self, ids: torch.Tensor) -> None:
        """mj_forward on worlds ``ids``."""
        self.batch.forward(ids.numpy())

    def step(self, nstep: int) -> None:
        """``nstep`` mj_step calls on every world (derived fields one substep behind, as mj_step)."""
        self.batch.step(nstep=nstep)


BACKENDS = ("mujoco", "warp")


def backend_class(name: str) -> type:
    """The simulation backend ``name``; ``warp`` is imported only when asked for."""
    if name == "mujoco":
        return MujocoBatchBackend
    if name == "warp":
        try:
            from .warp_backend import WarpBackend
        except ImportError as err:
            raise ValueError(f"backend='warp' needs MuJoCo Warp: pip install 'metarl[gpu]' ({err})") from err
        return WarpBackend
    raise ValueError(f"backend={name!r} is not available; allowed: {list(BACKENDS)}")


def _world_bytes(family: MujocoMetaEnv, dtype: torch.dtype) -> int:
    """Rough bytes per world: state and control (``qpos``, ``qvel``, ``act``, ``ctrl``) and the
    fields the definition reads (twice where it keeps a copy from before the step), in the
    backend's float size, through ``bytes_per_env``. The simulator's own per-world scratch is not
    known here and not counted (``mujoco.batch`` measured ~0.9 kB per HalfCheetah world)."""
    model = family.model
    itemsize = torch.empty((), dtype=dtype).element_size()
    values = sum(getattr(family._state_views, name)[0].numel() for name in family.definition.fields)
    values += sum(view[0].numel() for view in family._before_sources.values())
    state = (model.nq + model.nv + model.na + model.nu + values) * itemsize
    return bytes_per_env(family, state, itemsize)


def _memory_device(backend: str, device: Any) -> torch.device:
    """Where a backend keeps its worlds: ``mujoco`` on the host, ``warp`` on ``device``."""
    return torch.device("cpu") if backend == "mujoco" else resolve_device(device)


class MujocoVectorEnv(TaskVectorEnv):
    """``num_envs`` worlds of a MuJoCo family, each on its own task, stepped as one batch.

    Built by ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point",
    backend="mujoco", device=...)``. The simulation runs on the CPU's threads (``num_threads``,
    0 = all cores); results are float64 tensors moved to ``device``. Episode starts draw the v5
    envs' reset noise in torch from the env's seeded generator.

    ``check_actions`` (default ``True``): check that every action is finite (see ``TaskVectorEnv``:
    with actions given as CUDA tensors, one device->host synchronisation per step; ``False``
    skips it). Shapes are always checked. Before the worlds are allocated, a ``num_envs`` whose
    estimated memory (``bytes_per_env``) exceeds what is available is refused (``ValueError``).
    """

    def __init__(
        self,
        family_cls: type[MujocoMetaEnv],
        num_envs: int,
        device: str | torch.device = "cpu",
        backend: str = "mujoco",
        max_episode_steps: int | None = None,
        tasks: list[Task] | Mapping[str, Any] | None = None,
        autoreset_mode: str = "same_step",
        num_threads: int = 0,
        check_actions: bool = True,
        **family_kwargs: Any,
    ) -> None:
        backend_cls = backend_class(backend)
        num_envs = check_num_envs(num_envs)  # before the backend allocates worlds
        family = family_cls(**family_kwargs)
        check_memory(num_envs, _world_bytes(family, backend_cls.dtype), _memory_device(backend, device))
        self.definition = family.definition
        self.frame_skip = family.frame_skip
        self.backend = backend
        self.sim = backend_cls(family.model, num_envs, num_threads, device=device)
        self._qpos, self._qvel, self._ctrl = (self.sim.data_field(n) for n in ("qpos", "qvel", "ctrl"))
        self._rand_params = hasattr(family, "default_parameters")
        if self._rand_params:
            self._defaults = {
                k: torch.as_tensor(v, dtype=self.sim.dtype, device=self.sim.device)[None]
                for k, v in family.default_parameters.items()
            }
            self._model_fields = {k: self.sim.model_field(k, per_world=True) for k in RAND_PARAM_FIELDS}
        names = set(self.definition.fields) | set(self.definition.before_fields)
        self._views = {name: self._field(name) for name in names}
        self._state = SimState(**{n: self._views[n] for n in self.definition.fields})
        super().__init__(
            family, num_envs, device, max_episode_steps, tasks, autoreset_mode,
            sim_dtype=self.sim.dtype, sim_device=self.sim.device, check_actions=check_actions,
        )  # fmt: skip

    def _field(self, name: str) -> torch.Tensor:
        if name not in MODEL_FIELDS:
            return self.sim.data_field(name)
        if self._rand_params and name in self._model_fields:
            return self._model_fields[name]
        return self.sim.model_field(name, per_world=False)

    def _on_tasks_changed(self, mask: torch.Tensor) -> None:
        if self._rand_params:
            fields = scaled_model_fields(self._defaults, {k: v[mask] for k, v in self._tasks.items()})
            for name, value in fields.items():
                self._model_fields[name][mask] = value

    def _reset_state(self, mask: torch.Tensor) -> None:
        ids = torch.nonzero(mask).flatten()
        if ids.numel() == 0:
            return
        # As gymnasium's reset: mj_resetData, then the noisy state, then mj_forward.
        self.sim.reset(ids)
        qpos, qvel = self.family.sample_reset_states(ids.numel(), self._generator)
        self._qpos[ids] = qpos.to(self._qpos)
        self._qvel[ids] = qvel.to(self._qvel)
        self.sim.forward(ids)

    def _step_state(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        action = actions.to(self.sim.dtype)
        self._ctrl.copy_(action)
        before = SimState(**{n: self._views[n].clone() for n in self.definition.before_fields})
        self.sim.step(self.frame_skip)
        reward = self.definition.reward(before, self._state, action, self._tasks)
        return reward, self.definition.terminated(self._state, self._tasks)

    def _observe(self) -> torch.Tensor:
        return self.definition.observe(self._state)

    # ----- simulator state (for synchronising with other faces and backends) ------------------------
    def get_sim_state(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Copies of ``qpos (N, nq)`` and ``qvel (N, nv)``."""
        return self._qpos.clone(), self._qvel.clone()

    def set_sim_state(self, qpos: Any, qvel: Any, env_mask: Any = None) -> torch.Tensor:
        """Set positions and velocities of the selected worlds (one row each); returns observations."""
        ids = torch.nonzero(mask_tensor(env_mask, self.num_envs, self.sim_device)).flatten()
        self._qpos[ids] = torch.as_tensor(qpos).to(self._qpos)
        self._qvel[ids] = torch.as_tensor(qvel).to(self._qvel)
        self.sim.forward(ids)
        return self._observe().to(self.device)
