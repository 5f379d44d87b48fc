"""``warp`` backend of the batched MuJoCo families: MuJoCo Warp (float32) on a CUDA GPU or Warp's CPU device.

``WarpBackend`` has the interface of ``vector.MujocoBatchBackend``: live torch tensors viewing the
simulator's arrays (``wp.to_torch``, no copy; ``dtype = torch.float32``), and ``reset``,
``forward`` and ``step`` of all worlds of one ``mujoco_warp`` ``Model``/``Data`` pair (``nworld``
worlds). Install with ``pip install 'metarl[gpu]'`` (``mujoco-warp``, ``warp-lang``).

How it maps MuJoCo C:

* ``step(nstep)``: ``nstep`` ``mujoco_warp.step`` calls on every world. The loop is captured
  once per ``nstep`` in a graph (the first call for a given ``nstep`` runs eagerly and compiles
  the kernels, the second captures, later calls replay): a CUDA graph, launched on torch's
  current stream, so torch writes to ``qpos``/``qvel``/``ctrl`` before a step and reads of the
  outputs after it are ordered without synchronisation; on Warp's CPU device a recorded (APIC)
  graph, which removes the Python launch overhead (HalfCheetah, 4 worlds: 21 ms -> 0.5 ms per
  5-substep step) and gives bit-identical results (tested). CUDA capture needs Warp's memory pool
  (MuJoCo Warp allocates temporaries inside a step); without it, with ``graphs=False``, or if
  a capture fails (a warning), the launches run eagerly. ``forward`` is captured the same way.
  A model field made per-world after a capture drops the graphs (they hold the old arrays'
  addresses); they are captured again.
* ``forward(ids)``: MuJoCo Warp has no per-world forward, so the forward pass runs on every
  world, and afterwards every world outside ``ids`` gets back the values it had before in each
  field handed out by ``data_field`` (outputs such as ``xpos``, ``cfrc_ext``). Their state
  (``qpos``, ``qvel``, ``ctrl``, warm start, time) is never written by a forward pass. So, as
  ``mujoco.batch``, the other worlds keep the outputs of their last ``mj_step`` ("one substep
  behind"), which the family definitions read. Internal work arrays (contacts, constraint rows,
  sensordata) of the other worlds are recomputed: they are rebuilt by the next step anyway.
* ``reset(ids)``: ``mujoco_warp.reset_data`` with a per-world mask (``mj_resetData``: state to
  the defaults, warm start, contacts and constraint counts cleared). Unlike ``mj_resetData`` it
  leaves the derived outputs (``xpos`` ...) as they were; the caller's ``forward`` recomputes them.
* ``cfrc_ext``: the families that read it carry the accelerometer ``metarl_contact_probe``
  (``base.compile_with_contact_probe``); MuJoCo Warp, like MuJoCo C, then runs
  ``rne_postconstraint`` inside every forward pass (``Model.sensor_rne_postconstraint``), so
  ``cfrc_ext`` is computed at the start of the last substep, as on the ``mujoco`` backend.
  (MuJoCo Warp's ``opt.run_rne_postconstraint`` stays False: it would compute ``cfrc_ext`` for
  models without the probe, which MuJoCo C does not.)
* ``model_field(name, per_world=True)``: the Warp model's array of a batchable field (leading
  ``*`` dimension: ``body_mass``, ``body_inertia``, ``geom_friction``, ``dof_damping`` ...) is
  replaced by an ``(N, ...)`` copy of the shared values; MuJoCo Warp's kernels index it by world.
  As with ``mujoco.batch`` (and the single env, no ``mj_setConst``), derived constants such as
  ``body_invweight0`` stay those of the default model.

Options and deviations from MuJoCo C (documented differences, not bugs):

* float32 arithmetic (MuJoCo C: float64). Without contact friction, trajectories of the two
  backends agree to about 1e-5 after one control step (measured below) and diverge after tens of
  steps (chaotic contact dynamics); returns agree statistically.
* The model's options are used as they are (solver, iterations, ls_iterations, ls_tolerance, cone,
  integrator, timestep, ...), except: the solver ``tolerance`` is at least 1e-6 (MuJoCo Warp's
  float32 floor; the models ask for 1e-8); PGS, which MuJoCo Warp lacks (Humanoid's model asks
  for it), is replaced by Newton with the model's ``iterations`` (the same convex problem, so the
  same constraint forces at convergence); Warp-only options keep MuJoCo Warp's defaults (NxN
  broadphase, no deterministic contact ordering).
* Contact and constraint buffers: per world ``nconmax = max(MuJoCo Warp's default, 2 * ngeom)``
  contacts (pooled over worlds: ``naconmax = N * nconmax``) and ``njmax = max(default, nconmax *
  rows per contact + limited dofs + equality rows)`` constraint rows; override with the ``nconmax``
  / ``njmax`` arguments. MuJoCo C grows its buffers as needed; MuJoCo Warp drops contacts past the
  buffer (and flags ``Data.overflow``; ``overflowed()`` reads it). In MuJoCo C rollouts with
  random actions the families used at most 8 contacts and 28 rows per world, so the defaults
  leave ample margin.

* Contact frames: MuJoCo Warp orients the tangent axes of capsule-plane contacts differently
  from MuJoCo C (measured on Ant: C ``(-0.87, -0.48, 0)`` along the capsule, Warp ``(0, 1, 0)``);
  with the pyramidal friction cone of these models the friction pyramid is rotated, so contact
  forces differ whenever friction is active (not only float32 rounding).

Measured on Warp's CPU device (``tests/test_warp_backend.py``; one control step from the same
state and action, MuJoCo C float64 as reference): HalfCheetahVel observations within 1.7e-6
(abs; 7.7e-6 rel), rewards 2e-7; Hopper 8e-7; Walker2d 2.7e-5 (feet on the floor); Humanoid
3.3e-5 (abs, observation incl. cinert/cvel); Ant standing on its legs: positions 6.6e-4, joint
velocities 0.26 (of 7, the rotated friction pyramids), rewards 7e-3. Returns of a fixed sinusoid
over 50 steps, 16 worlds, same reset states: HalfCheetahVel -97.609 (Warp) vs -97.608 (C), std 1.3.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import mujoco
import mujoco_warp as mjw
import torch
import warp as wp
from mujoco_warp._src import io as _mjw_io
from mujoco_warp._src import types as _mjw_types
from mujoco_warp._src import warp_util as _mjw_warp_util

#: Data fields that a forward pass reads but never writes (the state and inputs of a world);
#: ``forward(ids)`` does not restore them for the other worlds, since they are unchanged.
STATE_FIELDS = frozenset(
    {"qpos", "qvel", "act", "ctrl", "qacc_warmstart", "qfrc_applied", "xfrc_applied", "mocap_pos", "mocap_quat", "time", "eq_active", "userdata"}
)  # fmt: skip

#: MuJoCo Warp's floor on the solver tolerance (float32).
MIN_TOLERANCE = 1e-6


def resolve_devices(device: Any) -> tuple[torch.device, str]:
    """The torch device and the matching Warp device name for ``device`` ("cpu", "cuda", "cuda:N",
    a ``torch.device`` or "auto": CUDA when torch sees one, else the CPU)."""
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if device.type == "cpu":
        return torch.device("cpu"), "cpu"
    if device.type != "cuda":
        raise ValueError(f"backend='warp' runs on 'cpu' or 'cuda[:N]', got device {str(device)!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"device {str(device)!r} was requested but CUDA is not available; allowed: 'cpu', 'auto'")
    index = device.index if device.index is not None else torch.cuda.current_device()
    return torch.device("cuda", index), f"cuda:{index}"


def warp_compatible_model(model: mujoco.MjModel) -> mujoco.MjModel:
    """A copy of ``model`` with the options MuJoCo Warp lacks replaced (PGS -> Newton)."""
    out = copy.copy(model)
    if out.opt.solver == mujoco.mjtSolver.mjSOL_PGS:
        out.opt.solver = mujoco.mjtSolver.mjSOL_NEWTON
    return out


def buffer_sizes(model: mujoco.MjModel) -> tuple[int, int]:
    """Default per-world ``(nconmax, njmax)`` (see the module doc)."""
    nconmax = max(_mjw_io._default_nconmax(model), 2 * model.ngeom)
    condim = int(max([1, *model.geom_condim.tolist(), *model.pair_dim.tolist()]))
    if model.opt.cone == mujoco.mjtCone.mjCONE_PYRAMIDAL:
        rows = 1 if condim == 1 else 2 * (condim - 1)
    else:
        rows = condim
    limited = int(model.jnt_limited.sum()) + int(model.tendon_limited.sum())
    equality = 6 * model.neq
    njmax = max(_mjw_io._default_njmax(model), nconmax * rows + limited + equality)
    return int(nconmax), int(njmax)


def _batchable(name: str) -> bool:
    """Whether ``name`` is a Model array field with a per-world leading dimension (``*``)."""
    field = {f.name: f.type for f in dataclasses.fields(_mjw_types.Model)}.get(name)
    if field is None or not _mjw_warp_util.is_array_spec(field):
        return False
    shape = getattr(field, "shape", ())
    return bool(shape) and shape[0] == "*"


class WarpBackend:
    """``warp`` backend: ``num_worlds`` MuJoCo Warp worlds stepped together (see the module doc).

    ``num_threads`` is accepted for the interface and ignored (Warp's CPU device uses its own
    threads). ``nconmax`` / ``njmax`` override the per-world contact / constraint buffer sizes;
    ``graphs`` (default: on, for CUDA only with Warp's memory pool) captures and replays graphs.
    Attributes: ``model`` (the MjModel given), ``wp_model``, ``wp_data`` (MuJoCo Warp's),
    ``device`` (torch), ``wp_device`` (Warp), ``dtype`` (float32).
    """

    dtype = torch.float32

    def __init__(
        self,
        model: mujoco.MjModel,
        num_worlds: int,
        num_threads: int = 0,
        device: Any = "cpu",
        nconmax: int | None = None,
        njmax: int | None = None,
        graphs: bool | None = None,
    ) -> None:
        if num_worlds < 1:
            raise ValueError(f"num_worlds must be positive, got {num_worlds}")
        self.device, wp_name = resolve_devices(device)
        # Warp prints a line per kernel module it loads (hundreds per model) unless quiet; an
        # environment is not the place for that. Users who want the log set WARP's config back.
        wp.config.quiet = True
        wp.init()
        self.wp_device = wp.get_device(wp_name)
        self.model = model
        self.num_worlds = int(num_worlds)
        mjm = warp_compatible_model(model)
        mjd = mujoco.MjData(mjm)
        default_ncon, default_nj = buffer_sizes(mjm)
        self.nconmax = int(nconmax) if nconmax is not None else default_ncon
        self.njmax = int(njmax) if njmax is not None else default_nj
        with wp.ScopedDevice(self.wp_device):
            self.wp_model = mjw.put_model(mjm)
            self.wp_model.opt.tolerance.fill_(max(float(mjm.opt.tolerance), MIN_TOLERANCE))
            self.wp_data = mjw.put_data(mjm, mjd, nworld=self.num_worlds, nconmax=self.nconmax, njmax=self.njmax)
        self._data_views: dict[str, torch.Tensor] = {}
        self._graphs: dict[Any, Any] = {}
        self._warm: set[Any] = set()
        # CUDA graphs need the memory pool (MuJoCo Warp allocates temporaries inside a step);
        # on the CPU, Warp records and replays the launches (APIC graphs).
        if graphs is None:
            graphs = wp.is_mempool_enabled(self.wp_device) if self.wp_device.is_cuda else True
        self.use_graphs = bool(graphs)
        self._capture_stream = wp.Stream(self.wp_device) if self.use_graphs and self.wp_device.is_cuda else None
        self._streams: dict[int, Any] = {}

    # ----- views -----------------------------------------------------------------------------------
    def data_field(self, name: str) -> torch.Tensor:
        """Live ``(N, ...)`` tensor of a MuJoCo Warp Data field (state fields writable)."""
        view = self._data_views.get(name)
        if view is None:
            array = getattr(self.wp_data, name, None)
            if not isinstance(array, wp.array):
                raise ValueError(f"{name!r} is not an array field of MuJoCo Warp's Data")
            view = self._data_views[name] = wp.to_torch(array)
        return view

    def model_field(self, name: str, per_world: bool) -> torch.Tensor:
        """Live model field: ``(N, ...)`` per-world values (writable), or the shared ``(1, ...)``
        values (``(N, ...)`` once the field was made per-world)."""
        array = getattr(self.wp_model, name, None)
        if not isinstance(array, wp.array):
            raise ValueError(f"{name!r} is not an array field of MuJoCo Warp's Model")
        batchable = _batchable(name)
        if not per_world:
            view = wp.to_torch(array)
            return view if batchable else view[None]
        if not batchable:
            raise ValueError(f"model field {name!r} cannot hold per-world values in MuJoCo Warp")
        if array.shape[0] != self.num_worlds:
            with self._on_torch_stream():
                expanded = wp.empty((self.num_worlds, *array.shape[1:]), dtype=array.dtype, device=self.wp_device)
                shared = wp.to_torch(array)
                wp.to_torch(expanded).copy_(shared.expand(self.num_worlds, *shared.shape[1:]))
            setattr(self.wp_model, name, expanded)
            self._graphs.clear()  # captured graphs hold the old array's address
            array = expanded
        return wp.to_torch(array)

    # ----- operations ------------------------------------------------------------------------------
    def reset(self, ids: torch.Tensor) -> None:
        """``mj_resetData`` on worlds ``ids`` (a 1-D int64 tensor), without the forward pass."""
        mask = torch.zeros(self.num_worlds, dtype=torch.bool, device=self.device)
        mask[ids] = True
        with self._on_torch_stream():
            mjw.reset_data(self.wp_model, self.wp_data, reset=wp.from_torch(mask, dtype=wp.bool))

    def forward(self, ids: torch.Tensor) -> None:
        """``mj_forward`` on worlds ``ids``: computed for all, the others' outputs restored."""
        if ids.numel() >= self.num_worlds:
            self._run("forward", lambda: mjw.forward(self.wp_model, self.wp_data))
            return
        mask = torch.zeros(self.num_worlds, dtype=torch.bool, device=self.device)
        mask[ids] = True
        outputs = {n: v for n, v in self._data_views.items() if n not in STATE_FIELDS and v.shape[:1] == mask.shape}
        saved = {n: v.clone() for n, v in outputs.items()}
        self._run("forward", lambda: mjw.forward(self.wp_model, self.wp_data))
        for name, view in outputs.items():
            keep = mask.view(-1, *[1] * (view.dim() - 1))
            view.copy_(torch.where(keep, view, saved[name]))

    def step(self, nstep: int) -> None:
        """``nstep`` ``mj_step`` calls on every world (derived fields one substep behind, as mj_step)."""

        def steps() -> None:
            for _ in range(nstep):
                mjw.step(self.wp_model, self.wp_data)

        self._run(("step", int(nstep)), steps)

    def overflowed(self) -> torch.Tensor:
        """Per-world flags: a contact or constraint buffer overflowed since the last reset (synchronises)."""
        return self.data_field("overflow") != 0

    # ----- launching -------------------------------------------------------------------------------
    def _torch_stream(self) -> Any:
        """Torch's current stream on the device, as a Warp stream (cached by handle)."""
        stream = torch.cuda.current_stream(self.device)
        wp_stream = self._streams.get(stream.cuda_stream)
        if wp_stream is None:
            wp_stream = self._streams[stream.cuda_stream] = wp.stream_from_torch(stream)
        return wp_stream

    @contextmanager
    def _on_torch_stream(self) -> Iterator[None]:
        """Warp launches on this backend's device, on torch's current stream (CUDA)."""
        if self.wp_device.is_cuda:
            with wp.ScopedDevice(self.wp_device), wp.ScopedStream(self._torch_stream(), sync_enter=False):
                yield
        else:
            with wp.ScopedDevice(self.wp_device):
                yield

    def _run(self, key: Any, fn: Any) -> None:
        """Run ``fn`` (Warp launches); on CUDA replay its graph, captured on the second call."""
        if not self.use_graphs:
            with self._on_torch_stream():
                fn()
            return
        graph = self._graphs.get(key)
        if graph is None:
            if key not in self._warm:  # first call: compile and load the kernels, eagerly
                self._warm.add(key)
                with self._on_torch_stream():
                    fn()
                return
            try:
                with wp.ScopedDevice(self.wp_device), wp.ScopedCapture(device=self.wp_device, stream=self._capture_stream) as capture:
                    fn()
            except Exception as err:  # a capture runs nothing: fall back to eager launches
                warnings.warn(f"MuJoCo Warp: graph capture failed on {self.wp_device}, running eagerly ({err})", RuntimeWarning, stacklevel=3)
                self.use_graphs = False
                self._graphs.clear()
                with self._on_torch_stream():
                    fn()
                return
            graph = self._graphs[key] = capture.graph
        if self.wp_device.is_cuda:
            wp.capture_launch(graph, stream=self._torch_stream())
        else:
            wp.capture_launch(graph)


__all__ = ["WarpBackend", "buffer_sizes", "resolve_devices", "warp_compatible_model"]
