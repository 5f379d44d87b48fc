"""Observation, reward and termination of the MuJoCo families, written once over batched tensors.

Every function here takes torch tensors with a leading batch dimension ``n`` (float64 when they
view MuJoCo C arrays, float32 under MuJoCo Warp) and uses torch only, with no loop over the
batch, so the same code serves the single ``gymnasium.Env`` (``n = 1``, tensors viewing
``MjData`` without a copy) and the batched simulators (``n`` in the thousands, CPU or GPU).

A family's definition reads a ``SimState`` after the step, and for velocity terms the fields
named in ``before_fields`` from the state before the step (the caller copies those, since the
simulator overwrites its state in place).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import Tensor

from metarl.core.tasks import TaskBatch

RewardTerms = dict[str, Tensor]


@dataclass(frozen=True)
class SimState:
    """Simulator quantities of ``n`` worlds; a definition reads only the fields it names.

    Shapes: ``qpos (n, nq)``, ``qvel (n, nv)``, ``cfrc_ext (n, nbody, 6)``, ``xpos`` and ``xipos (n, nbody, 3)``,
    ``body_mass (n, nbody)`` (or ``(1, nbody)`` when shared by all worlds), ``cinert (n, nbody, 10)``,
    ``cvel (n, nbody, 6)``, ``qfrc_actuator (n, nv)``. Like gymnasium's v5 envs, the definitions
    read ``xpos``/``xipos``/``cinert``/``cvel`` as ``mj_step`` leaves them: computed from the
    positions at the start of the last substep, slightly behind ``qpos``.

    ``cfrc_ext`` (read by the families with ``needs_contact_forces``) is MuJoCo's value computed
    inside ``mj_forward`` at the start of the last substep, as MuJoCo 1.5 / mujoco-py 1.50 (used by
    the references) computed it in every ``mj_forward``. Both faces get it the same way: the model
    carries a contact probe (``base.compile_with_contact_probe``: an accelerometer, whose sensor
    stage makes ``mj_forward`` call ``mj_rnePostConstraint``) and nothing is recomputed after the
    step. This deviates from gymnasium's v5 envs, which call ``mj_rnePostConstraint`` once more
    after ``mj_step`` (with the accelerations left by the integrator); a batched simulator cannot.
    """

    qpos: Tensor | None = None
    qvel: Tensor | None = None
    cfrc_ext: Tensor | None = None
    xpos: Tensor | None = None
    xipos: Tensor | None = None
    body_mass: Tensor | None = None
    cinert: Tensor | None = None
    cvel: Tensor | None = None
    qfrc_actuator: Tensor | None = None

    def get(self, name: str) -> Tensor:
        """Field ``name``; a clear error when the caller did not provide it."""
        value = getattr(self, name)
        if value is None:
            raise ValueError(f"SimState field {name!r} is required here but was not provided")
        return value


class MujocoDefinition(ABC):
    """One family's observation, reward and termination for a batch of worlds.

    ``dt`` is the control period (``model.opt.timestep * frame_skip``), shared by all worlds.
    """

    #: ``SimState`` fields read after the step (the caller must provide them).
    fields: ClassVar[tuple[str, ...]] = ("qpos", "qvel")
    #: ``SimState`` fields read from the state before the step (the caller copies them).
    before_fields: ClassVar[tuple[str, ...]] = ("qpos",)

    dt: float

    @property
    def needs_contact_forces(self) -> bool:
        """Whether this definition reads ``cfrc_ext`` (the model then needs the contact probe)."""
        return "cfrc_ext" in self.fields

    @abstractmethod
    def observe(self, s: SimState) -> Tensor:
        """Observations ``(n, obs_dim)`` (the task is hidden, as in meta-RL)."""

    @abstractmethod
    def reward_terms(self, before: SimState, after: SimState, action: Tensor, task: TaskBatch) -> RewardTerms:
        """The reward's terms, each ``(n,)``, named as in gymnasium's v5 ``info``; they sum to the reward."""

    def reward(self, before: SimState, after: SimState, action: Tensor, task: TaskBatch) -> Tensor:
        """Rewards ``(n,)``."""
        return sum_terms(self.reward_terms(before, after, action, task))

    def terminated(self, s: SimState, task: TaskBatch) -> Tensor:
        """Termination flags ``(n,)`` (bool); never, unless a family overrides it."""
        q = s.get("qpos")
        return torch.zeros(q.shape[0], dtype=torch.bool, device=q.device)


def sum_terms(terms: RewardTerms) -> Tensor:
    """The reward from its terms."""
    values = iter(terms.values())
    total = next(values)
    for v in values:
        total = total + v
    return total


QvelNoise = Literal["normal", "uniform"]
QVEL_NOISE_KINDS: tuple[str, ...] = ("normal", "uniform")


def reset_noise(
    init_qpos: Tensor | np.ndarray,
    init_qvel: Tensor | np.ndarray,
    scale: float,
    qvel_noise: QvelNoise,
    n: int,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """``n`` reset states drawn as the v5 envs' ``reset_model``: ``(qpos (n, nq), qvel (n, nv))``, float64.

    ``qpos = init_qpos + U(-scale, scale)`` always; ``qvel = init_qvel + scale * N(0, 1)`` for
    ``qvel_noise="normal"`` (HalfCheetah-v5, Ant-v5) or ``init_qvel + U(-scale, scale)`` for
    ``"uniform"`` (Humanoid-v5, Walker2d-v5, Hopper-v5). The draws come from ``generator`` (on its
    device; the outputs live there), so they follow the v5 distribution, not its numpy stream.
    """
    if qvel_noise not in QVEL_NOISE_KINDS:
        raise ValueError(f"qvel_noise={qvel_noise!r} is unknown; allowed: {list(QVEL_NOISE_KINDS)}")
    device = generator.device
    qpos0 = torch.as_tensor(init_qpos, dtype=torch.float64).to(device).reshape(-1)
    qvel0 = torch.as_tensor(init_qvel, dtype=torch.float64).to(device).reshape(-1)
    scale = float(scale)

    def uniform(size: int) -> Tensor:
        u = torch.rand((n, size), generator=generator, dtype=torch.float64, device=device)
        return -scale + (2.0 * scale) * u  # numpy's uniform(low, high): low + (high - low) * U[0, 1)

    qpos = qpos0 + uniform(qpos0.shape[0])
    if qvel_noise == "normal":
        qvel = qvel0 + scale * torch.randn((n, qvel0.shape[0]), generator=generator, dtype=torch.float64, device=device)
    else:
        qvel = qvel0 + uniform(qvel0.shape[0])
    return qpos, qvel


# ----- shared pieces -----------------------------------------------------------------------------
def x_velocity(before: SimState, after: SimState, dt: float) -> Tensor:
    """Velocity of the root's x slide (qpos[0]) over the step, as in HalfCheetah/Walker2d/Hopper-v5."""
    return (after.get("qpos")[:, 0] - before.get("qpos")[:, 0]) / dt


def ctrl_cost(action: Tensor, weight: float) -> Tensor:
    """``weight * ||a||^2`` on the action as given (as the references do, before clipping)."""
    return weight * action.square().sum(-1)


def unit_direction(angle: Tensor) -> Tensor:
    """``(cos, sin)`` of angles ``(n,)`` as ``(n, 2)``."""
    return torch.stack((torch.cos(angle), torch.sin(angle)), dim=-1)


def mass_center_xy(s: SimState) -> Tensor:
    """Centre of mass in the plane, ``sum(m_b * xipos_b) / sum(m_b)`` over bodies, ``(n, 2)``."""
    mass = s.get("body_mass")
    com = (mass.unsqueeze(-1) * s.get("xipos")).sum(-2) / mass.sum(-1, keepdim=True)
    return com[:, :2]


def clipped_contact_forces(s: SimState) -> Tensor:
    """``cfrc_ext`` clipped to [-1, 1] (Ant-v5's contact_force_range), ``(n, nbody, 6)``."""
    return s.get("cfrc_ext").clamp(-1.0, 1.0)


def healthy_z(qpos: Tensor, low: float, high: float, index: int = 2) -> Tensor:
    """``low <= qpos[index] <= high`` (inclusive, as Ant-v5 and the ant references)."""
    z = qpos[:, index]
    return (z >= low) & (z <= high)


def finite_state(s: SimState) -> Tensor:
    """All of ``qpos`` and ``qvel`` finite, ``(n,)``."""
    return torch.isfinite(s.get("qpos")).all(-1) & torch.isfinite(s.get("qvel")).all(-1)


# ----- half-cheetah ------------------------------------------------------------------------------
@dataclass(frozen=True)
class HalfCheetahDefinition(MujocoDefinition):
    """HalfCheetah-v5's observation: ``qpos[1:]`` and ``qvel`` (17 dims)."""

    dt: float
    ctrl_cost_weight: float = 0.05

    def observe(self, s: SimState) -> Tensor:
        return torch.cat((s.get("qpos")[:, 1:], s.get("qvel")), dim=-1)


class HalfCheetahVelDefinition(HalfCheetahDefinition):
    """``-|v_x - velocity| - 0.05 ||a||^2``; never terminates."""

    def reward_terms(self, before: SimState, after: SimState, action: Tensor, task: TaskBatch) -> RewardTerms:
        vx = x_velocity(before, after, self.dt)
        return {"reward_forward": -(vx - task["velocity"]).abs(), "reward_ctrl": -ctrl_cost(action, self.ctrl_cost_weight)}


class HalfCheetahDirDefinition(HalfCheetahDefinition):
    """``direction * v_x - 0.05 ||a||^2``; never terminates."""

    def reward_terms(self, before: SimState, after: SimState, action: Tensor, task: TaskBatch) -> RewardTerms:
        vx = x_velocity(before, after, self.dt)
        return {"reward_forward": task["direction"] * vx, "reward_ctrl": -ctrl_cost(action, self.ctrl_cost_weight)}


# ----- ant ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class AntDefinition(MujocoDefinition):
    """Ant-v5's observation: ``qpos`` (without x, y when ``exclude_xy``), ``qvel`` and the clipped
    external contact forces of every body but the world (``cfrc_ext[1:]``).

    The torso's position is its body frame's ``xpos`` (body ``torso_body``), as Ant-v5 and the
    references read it, not ``qpos[0:2]``, which is one MuJoCo substep ahead after ``mj_step``.
    """

    fields: ClassVar[tuple[str, ...]] = ("qpos", "qvel", "cfrc_ext", "xpos")
    before_fields: ClassVar[tuple[str, ...]] = ("xpos",)

    dt: float
    exclude_xy: bool = True
    ctrl_cost_weight: float = 0.5
    contact_cost_weight: float = 5e-4
    survive_reward: float = 1.0
    torso_body: int = 1

    def torso_xy(self, s: SimState) -> Tensor:
        """The torso's position in the plane, ``(n, 2)``."""
        return s.get("xpos")[:, self.torso_body, :2]

    def observe(self, s: SimState) -> Tensor:
        qpos = s.get("qpos")
        position = qpos[:, 2:] if self.exclude_xy else qpos
        return torch.cat((position, s.get("qvel"), clipped_contact_forces(s)[:, 1:].flatten(1)), dim=-1)

    def _costs(self, after: SimState, action: Tensor) -> RewardTerms:
        contact = self.contact_cost_weight * clipped_contact_forces(after).square().sum((-2, -1))
        survive = torch.full_like(contact, self.survive_reward)
        return {"reward_ctrl": -ctrl_cost(action, self.ctrl_cost_weight), "reward_contact": -contact, "reward_survive": survive}


@dataclass(frozen=True)
class AntDirDefinition(AntDefinition):
    """Torso xy velocity along ``(cos, sin)(direction)`` ``- 0.5||a||^2 -`` contact cost ``+ 1``;
    terminates when the state is not finite or the torso z leaves [0.2, 1.0]."""

    def reward_terms(self, before: SimState, after: SimState, action: Tensor, task: TaskBatch) -> RewardTerms:
        velocity = (self.torso_xy(after) - self.torso_xy(before)) / self.dt
        forward = (velocity * unit_direction(task["direction"])).sum(-1)
        return {"reward_forward": forward, **self._costs(after, action)}

    def terminated(self, s: SimState, task: TaskBatch) -> Tensor:
        return ~(finite_state(s) & healthy_z(s.get("qpos"), 0.2, 1.0))


@dataclass(frozen=True)
class AntGoalDefinition(AntDefinition):
    """``-||torso_xy - goal||_1 - 0.1||a||^2 -`` contact cost ``+ survive_reward``; never terminates.

    Observes the torso's x, y as well (``exclude_xy=False``, as PEARL and ProMP): the goal is a
    position, so the agent must know where it is.
    """

    before_fields: ClassVar[tuple[str, ...]] = ()

    exclude_xy: bool = False
    ctrl_cost_weight: float = 0.1
    survive_reward: float = 0.0

    def reward_terms(self, before: SimState, after: SimState, action: Tensor, task: TaskBatch) -> RewardTerms:
        distance = (self.torso_xy(after) - task["goal"]).abs().sum(-1)
        return {"reward_goal": -distance, **self._costs(after, action)}


# ----- humanoid ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class HumanoidDirDefinition(MujocoDefinition):
    """``1.25 *`` centre-of-mass xy velocity along ``(cos, sin)(direction)`` ``- 0.1||a||^2 -
    min(5e-7 ||cfrc_ext||^2, 10) + 5``; terminates when the torso z leaves (1, 2).

    Observation as Humanoid-v5: ``qpos[2:]``, ``qvel``, ``cinert[1:]``, ``cvel[1:]``,
    ``qfrc_actuator[6:]``, ``cfrc_ext[1:]`` (348 dims).
    """

    fields: ClassVar[tuple[str, ...]] = (
        "qpos", "qvel", "cfrc_ext", "xipos", "body_mass", "cinert", "cvel", "qfrc_actuator",
    )  # fmt: skip
    before_fields: ClassVar[tuple[str, ...]] = ("xipos", "body_mass")

    dt: float
    forward_reward_weight: float = 1.25
    ctrl_cost_weight: float = 0.1
    contact_cost_weight: float = 5e-7
    max_contact_cost: float = 10.0
    survive_reward: float = 5.0

    def observe(self, s: SimState) -> Tensor:
        parts = (
            s.get("qpos")[:, 2:],
            s.get("qvel"),
            s.get("cinert")[:, 1:].flatten(1),
            s.get("cvel")[:, 1:].flatten(1),
            s.get("qfrc_actuator")[:, 6:],  # the free joint's six dofs have no actuator
            s.get("cfrc_ext")[:, 1:].flatten(1),
        )
        return torch.cat(parts, dim=-1)

    def reward_terms(self, before: SimState, after: SimState, action: Tensor, task: TaskBatch) -> RewardTerms:
        velocity = (mass_center_xy(after) - mass_center_xy(before)) / self.dt
        forward = self.forward_reward_weight * (velocity * unit_direction(task["direction"])).sum(-1)
        contact = (self.contact_cost_weight * after.get("cfrc_ext").square().sum((-2, -1))).clamp(max=self.max_contact_cost)
        return {
            "reward_forward": forward,
            "reward_ctrl": -ctrl_cost(action, self.ctrl_cost_weight),
            "reward_contact": -contact,
            "reward_survive": torch.full_like(forward, self.survive_reward),
        }

    def terminated(self, s: SimState, task: TaskBatch) -> Tensor:
        z = s.get("qpos")[:, 2]
        return ~((z > 1.0) & (z < 2.0))  # strict, as Humanoid-v5 and PEARL


# ----- planar walkers with random physical parameters ---------------------------------------------
#: Model fields scaled by a random-parameters task, the task parameter of each, and the base of
#: the log-uniform multiplier (``base ** u``, ``u ~ U[-3, 3]``), as rand_param_envs.
RAND_PARAM_FIELDS: dict[str, tuple[str, float]] = {
    "body_mass": ("body_mass_scale", 1.5),
    "body_inertia": ("body_inertia_scale", 1.5),
    "geom_friction": ("geom_friction_scale", 1.5),
    "dof_damping": ("dof_damping_scale", 1.3),
}
RAND_PARAM_LOG_SCALE_LIMIT = 3.0


def scaled_model_fields(defaults: Mapping[str, Tensor], task: TaskBatch) -> dict[str, Tensor]:
    """Per-world model fields ``default * scale``: defaults ``(1, ...)`` or ``(n, ...)``, scales ``(n, ...)``."""
    return {name: defaults[name] * task[param] for name, (param, _) in RAND_PARAM_FIELDS.items()}


@dataclass(frozen=True)
class PlanarWalkerDefinition(MujocoDefinition):
    """Walker2d/Hopper-v5: observation ``qpos[1:]`` and ``clip(qvel, -10, 10)``; reward
    ``v_x + 1 - 0.001||a||^2`` (rand_param_envs and v5 agree); termination per subclass."""

    dt: float
    ctrl_cost_weight: float = 1e-3
    survive_reward: float = 1.0

    def observe(self, s: SimState) -> Tensor:
        return torch.cat((s.get("qpos")[:, 1:], s.get("qvel").clamp(-10.0, 10.0)), dim=-1)

    def reward_terms(self, before: SimState, after: SimState, action: Tensor, task: TaskBatch) -> RewardTerms:
        forward = x_velocity(before, after, self.dt)
        return {
            "reward_forward": forward,
            "reward_ctrl": -ctrl_cost(action, self.ctrl_cost_weight),
            "reward_survive": torch.full_like(forward, self.survive_reward),
        }


class Walker2dDefinition(PlanarWalkerDefinition):
    """Terminates unless ``0.8 < z < 2`` and ``-1 < angle < 1`` (Walker2d-v5)."""

    def terminated(self, s: SimState, task: TaskBatch) -> Tensor:
        q = s.get("qpos")
        z, angle = q[:, 1], q[:, 2]
        return ~((z > 0.8) & (z < 2.0) & (angle > -1.0) & (angle < 1.0))


class HopperDefinition(PlanarWalkerDefinition):
    """Terminates unless every entry of ``(qpos, qvel)[2:]`` is in (-100, 100), ``z > 0.7`` and
    ``|angle| < 0.2`` (Hopper-v5; a non-finite state fails these comparisons, so it terminates)."""

    def terminated(self, s: SimState, task: TaskBatch) -> Tensor:
        q = s.get("qpos")
        state = torch.cat((q[:, 2:], s.get("qvel")), dim=-1)
        healthy_state = ((state > -100.0) & (state < 100.0)).all(-1)
        z, angle = q[:, 1], q[:, 2]
        return ~(healthy_state & (z > 0.7) & (angle > -0.2) & (angle < 0.2))


TWO_PI = 2.0 * math.pi
