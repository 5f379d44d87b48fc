"""MuJoCo's forward kinematics (``mj_kinematics``) in torch, for the frames a definition reads.

Farama's step ends with ``mj_forward``, so its observation and reward read body, site and geom
poses at the new state. A batched simulator leaves them one substep behind after a step, and
asking it for the position stage costs most of a substep per world (collisions, constraints);
the kinematics of the few frames the definitions read costs a few torch operations per body.
MuJoCo's formulas with rotation matrices in place of its quaternions (fewer torch operations),
so the poses agree with MuJoCo's to rounding (~1e-15 in float64); the physics is untouched
(the simulator never sees these values).

Only the requested bodies (and their ancestors), sites and geoms are computed. They are returned
as ``Frames``, indexed like MuJoCo's full arrays (``xpos[:, body]``) but holding the computed
frames only: reading a frame that was not requested is a ``KeyError`` naming it, not a stale value.
"""

from __future__ import annotations

from dataclasses import dataclass

import mujoco
import numpy as np
import torch
from torch import Tensor

FREE, BALL, SLIDE, HINGE = (int(mujoco.mjtJoint.mjJNT_FREE), int(mujoco.mjtJoint.mjJNT_BALL),
                            int(mujoco.mjtJoint.mjJNT_SLIDE), int(mujoco.mjtJoint.mjJNT_HINGE))  # fmt: skip


class Frames:
    """Values of some frames of one kind (``"body"``, ``"site"``, ``"geom"``) for ``n`` worlds,
    ``values (n, k, ...)`` for the model ids ``ids``, indexed by model id: ``frames[rows, id, ...]``
    (``id`` an int or a sequence of ints) is ``values[rows, position of id, ...]``."""

    def __init__(self, values: Tensor, ids: list[int], kind: str) -> None:
        self.values, self.ids, self.kind = values, ids, kind
        self._position = {i: k for k, i in enumerate(ids)}

    def __getitem__(self, key: tuple) -> Tensor:
        if not isinstance(key, tuple) or len(key) < 2:
            raise TypeError(f"index {self.kind} frames as [worlds, {self.kind} id, ...], got {key!r}")
        rows, frame, *rest = key
        single = isinstance(frame, (int, np.integer))
        frames = [int(frame)] if single else [int(f) for f in frame]
        missing = [f for f in frames if f not in self._position]
        if missing:
            raise KeyError(f"{self.kind} {missing} not computed: look it up with {self.kind}_id() in the class's "
                           f"__init__ so that the kinematics computes it; computed: {self.ids}")  # fmt: skip
        where = self._position[frames[0]] if single else [self._position[f] for f in frames]
        return self.values[(rows, where, *rest)]


@dataclass
class Poses:
    """Frames of ``n`` worlds: ``xpos`` (bodies, ``(3,)`` each), ``site_xpos``, ``geom_xpos``
    and ``geom_xmat`` (``(3, 3)`` each), as ``Frames``."""

    xpos: Frames
    site_xpos: Frames
    geom_xpos: Frames
    geom_xmat: Frames


def quat_to_mat(q: Tensor) -> Tensor:
    """Rotation matrices ``(..., 3, 3)`` of unit quaternions ``(w, x, y, z)`` (``mju_quat2Mat``)."""
    w, x, y, z = q.unbind(-1)
    ww, xx, yy, zz = w * w, x * x, y * y, z * z
    rows = (
        (ww + xx - yy - zz, 2 * (x * y - w * z), 2 * (x * z + w * y)),
        (2 * (x * y + w * z), ww - xx + yy - zz, 2 * (y * z - w * x)),
        (2 * (x * z - w * y), 2 * (y * z + w * x), ww - xx - yy + zz),
    )
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)


def rotate(mat: Tensor, v: Tensor) -> Tensor:
    """``mat @ v`` for matrices ``(..., 3, 3)`` and vectors ``(..., 3)``: three column products
    (a reduction over a dimension of 3, or a batched matmul of 3x3 matrices, is several times
    slower on the CPU)."""
    return mat[..., 0] * v[..., 0:1] + mat[..., 1] * v[..., 1:2] + mat[..., 2] * v[..., 2:3]


def compose(a: Tensor, b: Tensor) -> Tensor:
    """``a @ b`` for ``(..., 3, 3)`` matrices, as three outer products (see ``rotate``)."""
    return a[..., :, 0:1] * b[..., 0:1, :] + a[..., :, 1:2] * b[..., 1:2, :] + a[..., :, 2:3] * b[..., 2:3, :]


def normalize(q: Tensor) -> Tensor:
    return q / torch.linalg.vector_norm(q, dim=-1, keepdim=True)


def _skew(axis: np.ndarray) -> np.ndarray:
    x, y, z = axis
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


class Kinematics:
    """The poses of the requested ``bodies``, ``sites`` and ``geoms`` of ``model`` from ``qpos``.

    ``dtype``/``device``: those of the simulator's tensors. ``__call__`` takes ``qpos (n, nq)``,
    ``mocap_pos (n, nmocap, 3)``, ``mocap_quat (n, nmocap, 4)`` and the body positions, ``(1 or
    n, nbody, 3)`` (per-world when a task moves bodies).
    """

    def __init__(self, model: mujoco.MjModel, bodies: set[int], sites: set[int], geoms: set[int],
                 dtype: torch.dtype, device: torch.device) -> None:  # fmt: skip
        self.model = model
        self.sites = sorted(sites)
        self.geoms = sorted(geoms)
        wanted = set(bodies) | {int(model.site_bodyid[s]) for s in sites} | {int(model.geom_bodyid[g]) for g in geoms}
        chain: set[int] = set()
        for body in wanted:
            while body > 0 and body not in chain:
                chain.add(body)
                body = int(model.body_parentid[body])
        self.bodies = sorted(chain)  # MuJoCo numbers parents before their children

        def const(x: np.ndarray) -> Tensor:
            return torch.as_tensor(np.asarray(x, dtype=np.float64), dtype=dtype, device=device)

        for body in self.bodies:
            kinds = model.jnt_type[model.body_jntadr[body] : model.body_jntadr[body] + model.body_jntnum[body]]
            if FREE in kinds and len(kinds) != 1:
                raise ValueError(f"body {body} mixes a free joint with others; MuJoCo does not allow it")
        unit = model.body_quat / np.linalg.norm(model.body_quat, axis=-1, keepdims=True)
        self.body_mat = quat_to_mat(const(unit))
        self.jnt_pos, self.jnt_axis, self.qpos0 = const(model.jnt_pos), const(model.jnt_axis), const(model.qpos0)
        self.skew = const(np.stack([_skew(a) for a in model.jnt_axis])) if model.njnt else None
        self.skew2 = self.skew @ self.skew if model.njnt else None
        self.site_pos, self.site_mat = const(model.site_pos), quat_to_mat(const(model.site_quat))
        self.geom_pos, self.geom_mat = const(model.geom_pos), quat_to_mat(const(model.geom_quat))
        self.site_body = [int(model.site_bodyid[i]) for i in self.sites]
        self.geom_body = [int(model.geom_bodyid[i]) for i in self.geoms]
        self.identity = torch.eye(3, dtype=dtype, device=device)

    def __call__(self, qpos: Tensor, mocap_pos: Tensor, mocap_quat: Tensor, body_pos: Tensor) -> Poses:
        n = qpos.shape[0]
        pos: dict[int, Tensor] = {0: torch.zeros(n, 3, dtype=qpos.dtype, device=qpos.device)}
        mat: dict[int, Tensor] = {0: self.identity.expand(n, 3, 3)}
        for body in self.bodies:
            pos[body], mat[body] = self._body(body, qpos, mocap_pos, mocap_quat, body_pos, pos, mat)
        site_xpos = [rotate(mat[b], self.site_pos[s]) + pos[b] for s, b in zip(self.sites, self.site_body)]
        geom_xpos = [rotate(mat[b], self.geom_pos[g]) + pos[b] for g, b in zip(self.geoms, self.geom_body)]
        geom_xmat = [compose(mat[b], self.geom_mat[g]).expand(n, 3, 3) for g, b in zip(self.geoms, self.geom_body)]
        bodies = [0, *self.bodies]
        return Poses(
            Frames(torch.stack([pos[b].expand(n, 3) for b in bodies], dim=1), bodies, "body"),
            Frames(_stack(site_xpos, (n, 0, 3), qpos), self.sites, "site"),
            Frames(_stack(geom_xpos, (n, 0, 3), qpos), self.geoms, "geom"),
            Frames(_stack(geom_xmat, (n, 0, 3, 3), qpos), self.geoms, "geom"),
        )

    def _body(self, body: int, qpos: Tensor, mocap_pos: Tensor, mocap_quat: Tensor, body_pos: Tensor,
              pos: dict[int, Tensor], mat: dict[int, Tensor]) -> tuple[Tensor, Tensor]:  # fmt: skip
        """One body's frame, as ``mj_kinematics``'s loop body."""
        m = self.model
        first, count = int(m.body_jntadr[body]), int(m.body_jntnum[body])
        if count == 1 and m.jnt_type[first] == FREE:
            a = int(m.jnt_qposadr[first])
            return qpos[:, a : a + 3], quat_to_mat(normalize(qpos[:, a + 3 : a + 7]))
        parent, mocap = int(m.body_parentid[body]), int(m.body_mocapid[body])
        if mocap >= 0:
            local_pos, local_mat = mocap_pos[:, mocap], quat_to_mat(normalize(mocap_quat[:, mocap]))
        else:
            local_pos, local_mat = body_pos[:, body], self.body_mat[body]
        if parent:
            xpos = rotate(mat[parent], local_pos) + pos[parent]
            xmat = compose(mat[parent], local_mat)
        else:
            xpos, xmat = local_pos.expand(qpos.shape[0], 3), local_mat
        for j in range(first, first + count):
            a, kind = int(m.jnt_qposadr[j]), int(m.jnt_type[j])
            centred = not m.jnt_pos[j].any()  # the anchor is the body's origin: no offset to correct
            anchor = xpos if centred else rotate(xmat, self.jnt_pos[j]) + xpos
            if kind == SLIDE:
                xpos = xpos + rotate(xmat, self.jnt_axis[j]) * (qpos[:, a] - self.qpos0[a])[:, None]
                continue
            if kind == BALL:
                local = quat_to_mat(normalize(qpos[:, a : a + 4]))
            else:  # hinge: Rodrigues' rotation about the joint's axis
                angle = (qpos[:, a] - self.qpos0[a])[:, None, None]
                local = self.identity + torch.sin(angle) * self.skew[j] + (1 - torch.cos(angle)) * self.skew2[j]
            xmat = compose(xmat, local)
            if not centred:
                xpos = anchor - rotate(xmat, self.jnt_pos[j])
        return xpos, xmat


def _stack(values: list[Tensor], empty: tuple[int, ...], like: Tensor) -> Tensor:
    return torch.stack(values, dim=1) if values else like.new_zeros(empty)
