"""The Sawyer arm shared by every Meta-World class, over batched torch tensors.

Written from ``metaworld.sawyer_xyz_env.SawyerXYZEnv``: mocap actuation (``set_xyz_action``),
the 18-number frame and the 39-number observation (``_get_curr_obs_combined_no_goal``,
``_get_obs``), and the base of a class definition (``SawyerClass``) that the per-class modules
fill in. All tensors have a leading world dimension; they view the simulator's arrays
(``SimView``) in its float dtype (float64 on ``mujoco``, float32 on ``warp``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import mujoco
import numpy as np
import torch
from torch import Tensor

from .kinematics import SLIDE, Frames, Kinematics, Poses

#: Length of the object part of a frame: positions and quaternions of up to two objects, zero-padded.
OBJECT_SLOTS = 14
FRAME = 18  # hand (3), gripper opening (1), objects (14)
OBS = 39  # frame, previous frame, goal (3)
#: The mocap orientation every step writes (``set_xyz_action``), not normalised: MuJoCo normalises it.
MOCAP_QUAT = (1.0, 0.0, 1.0, 0.0)
#: Controls of the two finger actuators while the hand settles at a reset (``_reset_hand``).
SETTLE_CTRL = (-1.0, 1.0)
SETTLE_STEPS = 50  # control steps of ``_reset_hand``

Episode = dict[str, Tensor]


@dataclass
class SimView:
    """The worlds as a definition sees them: live state tensors, the poses of the frames the
    definition reads (computed in torch at the current state, ``kinematics.py``), and the
    operations a reset needs.

    ``qpos (n, nq)``, ``qvel (n, nv)``, ``mocap_pos (n, nmocap, 3)``, ``mocap_quat (n, nmocap, 4)``
    and ``body_pos`` (``(n, nbody, 3)`` per world when the class moves bodies, else ``(1, nbody,
    3)``) view the simulator; ``xpos``, ``site_xpos``, ``geom_xpos`` and ``geom_xmat`` are the
    poses at the last ``refresh``, ``kinematics.Frames`` indexed as MuJoCo's arrays
    (``xpos[:, body]`` is ``(n, 3)``; a frame the definition did not ask for is a ``KeyError``).
    ``sim``: the backend (``sim.py``). For a class with a ``contact_object``: ``sensordata`` (live)
    and ``pad_columns``, the columns of the pads' normal forces on it (``contacts.py``).
    """

    qpos: Tensor
    qvel: Tensor
    mocap_pos: Tensor
    mocap_quat: Tensor
    body_pos: Tensor
    sim: Any
    kinematics: Kinematics
    poses: Poses | None = None
    sensordata: Tensor | None = None
    pad_columns: Tensor | None = None

    def refresh(self) -> None:
        """Recompute the poses from the current state (after a step or a change of ``qpos``)."""
        self.poses = self.kinematics(self.qpos, self.mocap_pos, self.mocap_quat, self.body_pos)

    def forward(self, ids: Tensor) -> None:
        """``set_state``'s ``mj_forward`` on worlds ``ids``, and the poses at the new state."""
        self.sim.forward(ids)
        self.refresh()

    @property
    def pad_forces(self) -> Tensor:
        """The left and right pads' normal forces on the class's ``contact_object``, ``(n, 2)``, as
        the simulator's last forward pass computed them."""
        if self.sensordata is None or self.pad_columns is None:
            raise RuntimeError("these worlds have no pad contact sensors: the class declares no contact_object")
        return self.sensordata[:, self.pad_columns]

    @property
    def xpos(self) -> Frames:
        return self._poses().xpos

    @property
    def site_xpos(self) -> Frames:
        return self._poses().site_xpos

    @property
    def geom_xpos(self) -> Frames:
        return self._poses().geom_xpos

    @property
    def geom_xmat(self) -> Frames:
        return self._poses().geom_xmat

    def body(self, body: int) -> Tensor:
        """The body frame's position (``get_body_com``), ``(n, 3)``."""
        return self.xpos[:, body]

    def _poses(self) -> Poses:
        if self.poses is None:
            self.refresh()
        return self.poses


@dataclass(frozen=True)
class SawyerIds:
    """Indices of the Sawyer's parts in a class's model."""

    hand: int
    right_claw: int
    left_claw: int
    left_pad: int
    right_pad: int
    right_effector: int  # site
    left_effector: int  # site
    mocap: int  # row of mocap_pos

    @classmethod
    def of(cls, model: mujoco.MjModel) -> SawyerIds:
        """The ids in ``model`` (by the names every Meta-World model uses)."""

        def body(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_BODY, name)

        def site(name: str) -> int:
            return mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_SITE, name)

        return cls(
            hand=body("hand"), right_claw=body("rightclaw"), left_claw=body("leftclaw"),
            left_pad=body("leftpad"), right_pad=body("rightpad"),
            right_effector=site("rightEndEffector"), left_effector=site("leftEndEffector"),
            mocap=int(model.body_mocapid[body("mocap")]),
        )  # fmt: skip


def quat_from_matrix(m: Tensor) -> Tensor:
    """Quaternions ``(x, y, z, w)`` of rotation matrices ``(..., 3, 3)``, with SciPy's choice of
    sign (``Rotation.from_matrix(m).as_quat()``, Shepperd's method: the largest of the diagonal
    and the trace picks the formula), which Meta-World's observations use."""
    trace = m[..., 0, 0] + m[..., 1, 1] + m[..., 2, 2]
    decision = torch.stack((m[..., 0, 0], m[..., 1, 1], m[..., 2, 2], trace), dim=-1)
    choice = decision.argmax(-1)  # the first maximum, as numpy's argmax
    candidates = []
    for i in range(3):  # the formula whose largest component is x, y or z
        j, k = (i + 1) % 3, (i + 2) % 3
        q = [None] * 4
        q[i] = 1 - trace + 2 * m[..., i, i]
        q[j] = m[..., j, i] + m[..., i, j]
        q[k] = m[..., k, i] + m[..., i, k]
        q[3] = m[..., k, j] - m[..., j, k]
        candidates.append(torch.stack(q, dim=-1))
    w_largest = torch.stack(
        (m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1], 1 + trace), dim=-1
    )
    candidates.append(w_largest)
    quat = torch.stack(candidates, dim=-2).gather(-2, choice[..., None, None].expand(*choice.shape, 1, 4))[..., 0, :]
    return quat / torch.linalg.vector_norm(quat, dim=-1, keepdim=True)


class SawyerClass(ABC):
    """One Meta-World class over a batch of worlds: its reset, objects, goal, reward (v2) and info.

    Built from the class's Farama env (its constants: hand start, bounds, ids in its model).
    A subclass sets ``name`` and ``rand_vec_size`` and implements ``reset``, ``objects`` and
    ``evaluate``; it overrides ``place`` when its ``reset_model`` moves bodies of the model, and
    declares the per-world model fields it writes in ``model_fields``. See the package docstring.
    """

    #: Meta-World class name, e.g. ``"reach-v3"``.
    name: ClassVar[str]
    #: Size of the class's ``rand_vec`` (its ``_random_reset_space``).
    rand_vec_size: ClassVar[int]
    #: Model fields given per-world values at a reset (``place``), e.g. ``("body_pos",)``.
    model_fields: ClassVar[tuple[str, ...]] = ()
    #: The geom whose contacts with the pads ``touching`` reads (Farama's ``_get_id_main_object``),
    #: or None: the env then adds contact sensors and a forward pass after each step.
    contact_object: ClassVar[str | None] = None
    #: The ``info`` entries ``evaluate`` returns (Meta-World's names).
    info_keys: ClassVar[tuple[str, ...]] = (
        "success", "near_object", "grasp_success", "grasp_reward", "in_place_reward", "obj_to_target", "unscaled_reward",
    )  # fmt: skip

    def __init__(self, env: Any, dtype: torch.dtype, device: torch.device) -> None:
        model = env.model
        self.model = model
        self.dtype, self.device = dtype, device
        #: The frames the definition reads, by kind; the kinematics computes these only.
        self.frames: dict[str, set[int]] = {"bodies": set(), "sites": set(), "geoms": set()}
        self.ids = SawyerIds.of(model)
        ids = self.ids
        self.frames["bodies"] |= {ids.hand, ids.right_claw, ids.left_claw, ids.left_pad, ids.right_pad}
        self.frames["sites"] |= {ids.right_effector, ids.left_effector}
        self.hand_init_pos = self.const(np.asarray(env.hand_init_pos, dtype=np.float64))
        self.mocap_low = self.const(env.mocap_low)
        self.mocap_high = self.const(env.mocap_high)
        self.action_scale = float(env.action_scale)
        self.frame_skip = int(env.frame_skip)
        box = env.sawyer_observation_space
        self.obs_low, self.obs_high = self.const(box.low), self.const(box.high)
        self.partially_observable = bool(env._partially_observable)

    # ----- helpers -----------------------------------------------------------------------------
    def const(self, value: Any) -> Tensor:
        """A constant in the simulation's dtype and device."""
        return torch.as_tensor(np.asarray(value, dtype=np.float64), dtype=self.dtype, device=self.device)

    def body_id(self, name: str) -> int:
        """The id of body ``name``, whose frame the definition reads (the kinematics computes it)."""
        i = _object_id(self.model, mujoco.mjtObj.mjOBJ_BODY, name)
        self.frames["bodies"].add(i)
        return i

    def geom_id(self, name: str) -> int:
        """The id of geom ``name``, whose pose the definition reads."""
        i = _object_id(self.model, mujoco.mjtObj.mjOBJ_GEOM, name)
        self.frames["geoms"].add(i)
        return i

    def site_id(self, name: str) -> int:
        """The id of site ``name``, whose position the definition reads."""
        i = _object_id(self.model, mujoco.mjtObj.mjOBJ_SITE, name)
        self.frames["sites"].add(i)
        return i

    def joint_qpos(self, name: str) -> int:
        """The ``qpos`` address of joint ``name``."""
        return int(self.model.jnt_qposadr[_object_id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)])

    def joint_dof(self, name: str) -> int:
        """The ``qvel`` address of joint ``name``."""
        return int(self.model.jnt_dofadr[_object_id(self.model, mujoco.mjtObj.mjOBJ_JOINT, name)])

    def tcp_center(self, s: SimView | Poses) -> Tensor:
        """Midpoint of the two fingertip sites, ``(n, 3)``."""
        return (s.site_xpos[:, self.ids.right_effector] + s.site_xpos[:, self.ids.left_effector]) / 2.0

    def touching(self, s: SimView) -> Tensor:
        """``touching_main_object``: both pads press on ``contact_object`` (positive normal force),
        ``(n,)`` bool, at the state after the step (as Farama reads it after its ``mj_forward``)."""
        return (s.pad_forces > 0).all(dim=-1)

    def pads(self, s: SimView) -> tuple[Tensor, Tensor]:
        """The left and right pads' body positions now (``get_body_com``), ``(n, 3)`` each."""
        return s.body(self.ids.left_pad), s.body(self.ids.right_pad)

    # ----- the class's definition --------------------------------------------------------------
    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        """Write the per-world model fields of the tasks of worlds ``ids`` (``model_fields``) before
        the hand settles: Farama's reset runs ``reset_model`` once before ``mj_resetData``, so the
        bodies it moves are already in place when the hand settles in the second run."""

    @abstractmethod
    def reset(self, s: SimView, ids: Tensor, rand_vec: Tensor, settled: Episode) -> Episode:
        """The rest of ``reset_model`` on worlds ``ids`` after the hand settled: write object
        states (``s.qpos[ids] ...``), run ``s.forward(ids)``, and return the episode's
        constants, ``(len(ids), ...)`` tensors; ``"target_pos"`` (the goal) is required.
        ``settled``: ``init_tcp``, ``left_pad``, ``right_pad`` and ``xpos`` (``(len(ids), ...)``)
        as Farama reads them after the settling (one substep behind, as after ``mj_step``)."""

    @abstractmethod
    def objects(self, s: SimView) -> Tensor:
        """Object positions and quaternions, ``(n, 7k)`` (``_get_pos_objects``/``_get_quat_objects``,
        interleaved per object; padded to 14 by the caller)."""

    @abstractmethod
    def evaluate(self, obs: Tensor, action: Tensor, s: SimView, ep: Episode) -> tuple[Tensor, dict[str, Tensor]]:
        """Reward ``(n,)`` and ``info`` (``info_keys``, each ``(n,)``) of the step that led to
        ``obs`` (clipped, ``(n, 39)``); ``action`` is the float32 action ``(n, 4)``."""

    # ----- shared definition -------------------------------------------------------------------
    def frame(self, s: SimView) -> Tensor:
        """The current 18-number frame: hand position, gripper opening in [0, 1], objects."""
        hand = s.xpos[:, self.ids.hand]
        apart = torch.linalg.vector_norm(s.xpos[:, self.ids.right_claw] - s.xpos[:, self.ids.left_claw], dim=-1)
        gripper = (apart / 0.1).clamp(0.0, 1.0)
        objects = self.objects(s)
        pad = hand.new_zeros(hand.shape[0], OBJECT_SLOTS - objects.shape[1])
        return torch.cat((hand, gripper[:, None], objects, pad), dim=-1)

    def goal(self, ep: Episode) -> Tensor:
        """The goal part of the observation: the target, or zeros when partially observable."""
        target = ep["target_pos"]
        return torch.zeros_like(target) if self.partially_observable else target

    def mocap_step(self, mocap_pos: Tensor, action: Tensor) -> Tensor:
        """``set_xyz_action``: the new mocap positions ``(n, nmocap, 3)`` for float32 actions: the
        clipped, scaled delta in float32 (as Farama computes it from its float32 action), added in
        the simulation's dtype, the arm's mocap clipped to the mocap bounds."""
        delta = action[:, :3].clamp(-1.0, 1.0) * torch.tensor(self.action_scale, dtype=torch.float32)
        new = mocap_pos + delta.to(mocap_pos.dtype)[:, None]
        arm = self.ids.mocap
        new[:, arm] = torch.minimum(torch.maximum(new[:, arm], self.mocap_low), self.mocap_high)
        return new


def _object_id(model: mujoco.MjModel, kind: mujoco.mjtObj, name: str) -> int:
    i = mujoco.mj_name2id(model, kind, name)
    if i < 0:
        raise ValueError(f"the model has no {kind.name[6:].lower()} named {name!r}")
    return int(i)


def object_pose(s: SimView, body: int, geom: int) -> Tensor:
    """Position of body ``body`` and quaternion of geom ``geom``, ``(n, 7)``: the usual object of
    a class (``get_body_com(obj)`` and SciPy's quaternion of ``objGeom``'s frame)."""
    return torch.cat((s.xpos[:, body], quat_from_matrix(s.geom_xmat[:, geom])), dim=-1)


def geom_pose(s: SimView, geom: int) -> Tensor:
    """Position and SciPy quaternion of geom ``geom``'s frame, ``(n, 7)`` (``data.geom(g).xpos``
    and ``Rotation.from_matrix(data.geom(g).xmat)``)."""
    return torch.cat((s.geom_xpos[:, geom], quat_from_matrix(s.geom_xmat[:, geom])), dim=-1)


def with_zero_quat(pos: Tensor) -> Tensor:
    """Points ``(n, 3)`` with the zero quaternion, ``(n, 7)``: the object of a class whose
    ``_get_quat_objects`` returns ``np.zeros(4)``."""
    return torch.cat((pos, pos.new_zeros(pos.shape[0], 4)), dim=-1)


def fixed_orientation(model: mujoco.MjModel, body: int) -> np.ndarray:
    """MuJoCo's ``xquat`` of ``body``, ``(w, x, y, z)``, when no joint above it (itself included)
    rotates it: the same in every state, so computed once here. ``ValueError`` otherwise."""
    b = body
    while b > 0:
        kinds = model.jnt_type[model.body_jntadr[b] : model.body_jntadr[b] + model.body_jntnum[b]]
        if model.body_mocapid[b] >= 0 or any(int(k) != SLIDE for k in kinds):
            raise ValueError(f"body {body}'s orientation is not fixed: body {b} has rotational joints or is a mocap")
        b = int(model.body_parentid[b])
    data = mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    return data.xquat[body].copy()
