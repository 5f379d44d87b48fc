"""Simulation backends of the batched Meta-World face: ``mujoco`` (``mujoco.batch``) and ``warp``.

Both expose live ``(N, ...)`` torch tensors of MjData fields (``data_field``) and of per-world
model fields (``model_field``), and the operations a Meta-World step and reset need:

* ``reset(ids)``: ``mj_resetData`` on worlds ``ids``, without the forward pass;
* ``step_worlds(ids, nstep)``: ``nstep`` ``mj_step`` calls on worlds ``ids`` only (the hand
  settling at a reset); derived fields one substep behind, as after ``mj_step``;
* ``step(nstep)``: ``nstep`` ``mj_step`` calls on every world (the poses Farama's ``mj_forward``
  then computes are computed in torch, ``kinematics.py``);
* ``forward(ids)``: ``mj_forward`` on worlds ``ids`` (``set_state``);
* ``refresh_static(ids)``: after per-world ``body_pos`` changed on worlds ``ids``, bring what the
  simulator precomputed from it up to date (``warp``: the poses of static geoms).
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np
import torch
from mujoco.batch import Batch

from ...mujoco.vector import tensor_view
from .kinematics import compose, normalize, quat_to_mat, rotate

BACKENDS = ("mujoco", "warp")


class MujocoSim:
    """``mujoco`` backend: MuJoCo C worlds on a CPU thread pool (float64)."""

    device = torch.device("cpu")
    dtype = torch.float64

    def __init__(self, model: mujoco.MjModel, num_worlds: int, num_threads: int = 0, device: Any = "cpu") -> None:
        # ``device`` is accepted for a uniform signature: results are moved by the env.
        self.batch = Batch(model, nsim=num_worlds, nthread=num_threads)
        self.model = model
        self.num_worlds = int(num_worlds)

    def data_field(self, name: str) -> torch.Tensor:
        """Live ``(N, ...)`` tensor of an MjData field (``geom_xmat``/``site_xmat`` as ``(..., 3, 3)``)."""
        view = tensor_view(self.batch.bind(name))
        return view.unflatten(-1, (3, 3)) if name.endswith("xmat") else view

    def model_field(self, name: str) -> torch.Tensor:
        """Live per-world ``(N, ...)`` values of a model field (``Batch.expand``; writable)."""
        return tensor_view(self.batch.expand(name))

    def reset(self, ids: torch.Tensor) -> None:
        self.batch.reset(ids.numpy(), stage=mujoco.mjtStage.mjSTAGE_NONE)

    def step_worlds(self, ids: torch.Tensor, nstep: int) -> None:
        self.batch.step(ids.numpy(), nstep=nstep)

    def step(self, nstep: int) -> None:
        self.batch.step(nstep=nstep)

    def forward(self, ids: torch.Tensor) -> None:
        self.batch.forward(ids.numpy())

    def refresh_static(self, ids: torch.Tensor) -> None:
        """Nothing: MuJoCo C computes every geom's pose in each forward pass."""

    def state(self) -> torch.Tensor:
        """Live ``(N, nstate)`` rows of each world's full integration state (``mjSTATE_INTEGRATION``)."""
        return tensor_view(self.batch.state)


#: Substeps per launch of a long partial step on ``warp`` (the hand settling: 249 + 1 substeps).
SETTLE_CHUNK = 5
#: MjData fields that hold a world's state in MuJoCo Warp (saved around a partial step).
WARP_STATE_FIELDS = ("qpos", "qvel", "act", "ctrl", "qacc_warmstart", "mocap_pos", "mocap_quat", "time")


class WarpSim:
    """``warp`` backend: MuJoCo Warp (float32) on a CUDA GPU or Warp's CPU device.

    MuJoCo Warp steps all worlds together; ``step_worlds`` steps them all and puts back the
    state and outputs of the worlds outside ``ids``. A reset of a few worlds thus costs a
    settling of all of them (Meta-World's episodes all last 500 steps, so worlds started
    together reset together).
    """

    dtype = torch.float32

    def __init__(self, model: mujoco.MjModel, num_worlds: int, num_threads: int = 0, device: Any = "cpu") -> None:
        from metarl.envs.mujoco.warp_backend import WarpBackend

        self.backend = WarpBackend(model, num_worlds, num_threads, device=device)
        self.device = self.backend.device
        self.model = model
        self.num_worlds = int(num_worlds)

    def data_field(self, name: str) -> torch.Tensor:
        return self.backend.data_field(name)

    def model_field(self, name: str) -> torch.Tensor:
        return self.backend.model_field(name, per_world=True)

    def reset(self, ids: torch.Tensor) -> None:
        self.backend.reset(ids)

    def step_worlds(self, ids: torch.Tensor, nstep: int) -> None:
        if ids.numel() >= self.num_worlds:
            self._steps(nstep)
            return
        keep = torch.ones(self.num_worlds, dtype=torch.bool, device=self.device)
        keep[ids] = False
        names = set(WARP_STATE_FIELDS) | set(self.backend._data_views)
        views = {n: self.backend.data_field(n) for n in names}
        views = {n: v for n, v in views.items() if v.shape[:1] == keep.shape}
        saved = {n: v[keep].clone() for n, v in views.items()}
        self._steps(nstep)
        for name, view in views.items():
            view[keep] = saved[name]

    def _steps(self, nstep: int) -> None:
        """``nstep`` substeps in chunks of ``SETTLE_CHUNK``: the backend captures one graph per
        chunk size, and a graph of hundreds of substeps takes far longer to record than to replay."""
        for _ in range(nstep // SETTLE_CHUNK):
            self.backend.step(SETTLE_CHUNK)
        if nstep % SETTLE_CHUNK:
            self.backend.step(nstep % SETTLE_CHUNK)

    def step(self, nstep: int) -> None:
        self.backend.step(nstep)

    def forward(self, ids: torch.Tensor) -> None:
        self.backend.forward(ids)

    def refresh_static(self, ids: torch.Tensor) -> None:
        """The poses of static geoms (of bodies welded to the world, outside mocap subtrees) of worlds
        ``ids`` from their per-world body positions. MuJoCo Warp computes them once, when its data
        is made, and never again (``smooth.geom_kinematics``), so a body moved per world (the door
        of door-open, the drawer's case) would collide at its default place; this is MuJoCo's
        ``mj_kinematics`` for those bodies and geoms, in torch."""
        model, n = self.model, self.num_worlds
        static = (model.body_weldid == 0) & (model.body_mocapid[model.body_rootid] == -1)
        geoms = np.flatnonzero(static[model.geom_bodyid])
        if geoms.size == 0:
            return

        def field(name: str) -> torch.Tensor:
            value = self.backend.model_field(name, per_world=False)
            return value[ids] if value.shape[0] == n else value[:1].expand(ids.numel(), *value.shape[1:])

        body_pos, body_quat, geom_pos, geom_quat = (field(k) for k in ("body_pos", "body_quat", "geom_pos", "geom_quat"))
        body_mat = quat_to_mat(normalize(body_quat))
        xpos = torch.zeros_like(body_pos)
        xmat = torch.eye(3, dtype=xpos.dtype, device=self.device).expand(*xpos.shape[:2], 3, 3).clone()
        for body in np.flatnonzero(static)[1:]:  # parents precede children in MuJoCo's body order
            parent = int(model.body_parentid[body])
            xpos[:, body] = xpos[:, parent] + rotate(xmat[:, parent], body_pos[:, body])
            xmat[:, body] = compose(xmat[:, parent], body_mat[:, body])
        bodies = torch.as_tensor(model.geom_bodyid[geoms], device=self.device)
        geoms_t = torch.as_tensor(geoms, device=self.device)
        geom_xpos = xpos[:, bodies] + rotate(xmat[:, bodies], geom_pos[:, geoms_t])
        geom_xmat = compose(xmat[:, bodies], quat_to_mat(geom_quat[:, geoms_t]))
        self.backend.data_field("geom_xpos")[ids[:, None], geoms_t] = geom_xpos
        self.backend.data_field("geom_xmat")[ids[:, None], geoms_t] = geom_xmat


def sim_class(name: str) -> type:
    """The backend ``name`` (``"mujoco"`` or ``"warp"``); ``warp`` needs MuJoCo Warp installed."""
    if name == "mujoco":
        return MujocoSim
    if name == "warp":
        try:
            import mujoco_warp  # noqa: F401
        except ImportError as err:
            raise ValueError(f"backend='warp' needs MuJoCo Warp: pip install 'metarl[gpu]' ({err})") from err
        return WarpSim
    raise ValueError(f"backend={name!r} is not available; allowed: {list(BACKENDS)}")
