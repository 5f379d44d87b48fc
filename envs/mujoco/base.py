"""The single-env face of the MuJoCo families: a gymnasium v5 env driven by a batched definition.

``MujocoMetaEnv`` is mixed in *before* a gymnasium v5 env class (``class X(MujocoMetaEnv,
HalfCheetahEnv)``): the v5 class supplies the model file, ``frame_skip``, the simulation and its
reset noise (drawn from ``np_random``); the family's ``MujocoDefinition`` supplies observation,
reward and termination, called with a batch of one on tensors that view ``MjData`` directly.

Families whose definition reads ``cfrc_ext`` (``needs_contact_forces``) deviate from the v5
simulation in one respect: their model is gymnasium's XML plus a contact probe
(``compile_with_contact_probe``), and a step is ``mj_step`` alone, without v5's trailing
``mj_rnePostConstraint``. ``cfrc_ext`` is then MuJoCo's value from ``mj_forward`` at the start of
the last substep (as MuJoCo 1.5 / mujoco-py gave the references), which the batched simulator
(``mujoco.batch``) computes too. The trajectory (``qpos``, ``qvel``) is unchanged, bit for bit.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar

import mujoco
import numpy as np
import torch
from gymnasium import spaces, utils

from metarl.core.analytic import action_tensor
from metarl.core.meta_env import MetaEnv
from metarl.core.tasks import Task, tasks_to_tensors

from .definitions import MujocoDefinition, QvelNoise, SimState, reset_noise, sum_terms

#: Keyword arguments of the v5 envs that define observation, reward or termination. The family's
#: definition fixes these, so accepting them silently would mislead; they are rejected.
DEFINITION_KWARGS = frozenset(
    {
        "forward_reward_weight", "ctrl_cost_weight", "contact_cost_weight", "contact_cost_range",
        "healthy_reward", "terminate_when_unhealthy", "healthy_z_range", "healthy_angle_range",
        "healthy_state_range", "contact_force_range", "main_body",
        "exclude_current_positions_from_observation", "include_cfrc_ext_in_observation",
        "include_cinert_in_observation", "include_cvel_in_observation",
        "include_qfrc_actuator_in_observation",
    }
)  # fmt: skip
#: What may be passed through to the v5 env: the model, the simulation and rendering.
PASSTHROUGH_KWARGS = (
    "xml_file", "frame_skip", "reset_noise_scale", "default_camera_config", "render_mode", "width",
    "height", "camera_id", "camera_name", "max_geom", "visual_options",
)  # fmt: skip


#: Name of the site and of the accelerometer added by ``compile_with_contact_probe``.
CONTACT_PROBE = "metarl_contact_probe"


def compile_with_contact_probe(xml_path: str) -> mujoco.MjModel:
    """Gymnasium's model at ``xml_path`` plus a contact probe, compiled.

    The probe is a site on the first body under the world body and an accelerometer on it, both
    named ``CONTACT_PROBE``. Its only purpose: an acceleration sensor makes ``mj_forward``'s sensor
    stage call ``mj_rnePostConstraint``, so ``cfrc_ext`` is computed inside every ``mj_forward``
    (also by batched simulators that cannot call ``mj_rnePostConstraint`` themselves). It adds no
    mass, geometry or state: the trajectory is bit-identical to the model without it. The site is
    in group 5, hidden when rendering by default.
    """
    spec = mujoco.MjSpec.from_file(xml_path)
    body = spec.worldbody.first_body()
    if body is None:
        raise ValueError(f"{xml_path}: the world body has no child body to carry the contact probe")
    body.add_site(name=CONTACT_PROBE, group=5)
    spec.add_sensor(
        name=CONTACT_PROBE,
        type=mujoco.mjtSensor.mjSENS_ACCELEROMETER,
        objtype=mujoco.mjtObj.mjOBJ_SITE,
        objname=CONTACT_PROBE,
    )
    return spec.compile()


def check_v5_kwargs(owner: str, kwargs: Mapping[str, Any]) -> None:
    """Reject v5 keyword arguments that the family's definition fixes."""
    fixed = sorted(set(kwargs) & DEFINITION_KWARGS)
    if fixed:
        raise ValueError(
            f"{owner}: keyword argument(s) {fixed} are fixed by the family's definition "
            f"(metarl.envs.mujoco.definitions); allowed extra keyword arguments: {list(PASSTHROUGH_KWARGS)}"
        )


@contextlib.contextmanager
def _without_settotalmass_warning() -> Iterator[None]:
    """Silence MuJoCo's deprecation of ``settotalmass`` in gymnasium's half_cheetah.xml while a
    model compiles (it is printed, and logged to MUJOCO_LOG.TXT in the working directory, once
    per model); every other MuJoCo warning is raised as a Python warning."""

    def handler(message: str) -> None:
        if "settotalmass" not in message:
            warnings.warn(f"MuJoCo: {message}", RuntimeWarning, stacklevel=2)

    previous = mujoco.get_mju_user_warning()
    mujoco.set_mju_user_warning(handler)
    try:
        yield
    finally:
        mujoco.set_mju_user_warning(previous)


class MujocoMetaEnv(MetaEnv):
    """Mixin turning a gymnasium v5 MuJoCo env into a task-distributed family (one task at a time).

    Subclass constructors call ``self._init_family(V5Env, Definition, task, kwargs, **options)``.
    Observations are float64 like the v5 envs'.

    Class attributes: ``needs_contact_forces`` (the definition reads ``cfrc_ext``) and
    ``qvel_reset_noise`` (the v5 reset's velocity noise, for ``reset_noise``).

    Contact forces, for the families with ``needs_contact_forces``: ``cfrc_ext`` (in observation
    and contact cost) is MuJoCo's value computed inside ``mj_forward`` at the start of the last
    substep, as MuJoCo 1.5 / mujoco-py gave the papers' references, not the v5 env's (which calls
    ``mj_rnePostConstraint`` again after ``mj_step``). The model is the v5 env's plus a contact
    probe (``compile_with_contact_probe``, trajectory bit-identical) and a step is ``mj_step``
    alone, so the single and the batched envs agree. The contact parts of observation and reward
    therefore differ from the v5 env's; positions and velocities do not.
    """

    #: Whether the family's definition reads ``cfrc_ext`` (checked against it in ``_use_definition``).
    needs_contact_forces: ClassVar[bool] = False
    #: The v5 ``reset_model``'s velocity noise: ``"normal"`` (``scale * N(0, 1)``) or ``"uniform"``
    #: (``U(-scale, scale)``); positions always get ``U(-scale, scale)``.
    qvel_reset_noise: ClassVar[QvelNoise]

    definition: MujocoDefinition
    _task_tensors: dict[str, torch.Tensor]

    # ----- simulation: gymnasium MujocoEnv's hooks ----------------------------------------------
    def _initialize_simulation(self) -> tuple[mujoco.MjModel, mujoco.MjData]:
        with _without_settotalmass_warning():
            if not self.needs_contact_forces:
                return super()._initialize_simulation()  # type: ignore[misc]
            model = compile_with_contact_probe(self.fullpath)
        # As MujocoEnv: only grow the offscreen framebuffer, never shrink below the XML's size.
        model.vis.global_.offwidth = max(model.vis.global_.offwidth, self.width)
        model.vis.global_.offheight = max(model.vis.global_.offheight, self.height)
        return model, mujoco.MjData(model)

    def _step_mujoco_simulation(self, ctrl: Any, n_frames: int) -> None:
        if not self.needs_contact_forces:
            super()._step_mujoco_simulation(ctrl, n_frames)  # type: ignore[misc]
            return
        self.data.ctrl[:] = ctrl
        # No mj_rnePostConstraint: cfrc_ext stays the probe's value from the last mj_forward.
        mujoco.mj_step(self.model, self.data, nstep=n_frames)

    @property
    def reset_noise_scale(self) -> float:
        """The v5 env's reset noise scale (``_reset_noise_scale``)."""
        return float(self._reset_noise_scale)

    def sample_reset_states(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` reset states ``(qpos (n, nq), qvel (n, nv))`` from the v5 reset distribution, in
        torch (``reset_noise``); the env's own ``reset`` keeps drawing from ``np_random``."""
        return reset_noise(self.init_qpos, self.init_qvel, self.reset_noise_scale, self.qvel_reset_noise, n, generator)

    def _init_family(
        self,
        v5_cls: type,
        make_definition: Callable[..., MujocoDefinition],
        task: Mapping[str, Any] | None,
        kwargs: Mapping[str, Any],
        **options: Any,
    ) -> None:
        """The construction every family shares: reject keyword arguments the definition fixes,
        build the v5 env, record the constructor arguments for pickling (``options`` are the
        family's own), adopt ``make_definition(dt=...)`` and set the task."""
        check_v5_kwargs(type(self).__name__, kwargs)
        v5_cls.__init__(self, **kwargs)
        utils.EzPickle.__init__(self, task=task, **options, **kwargs)
        self._prepare_model()
        self._use_definition(make_definition(dt=self.dt))
        self._init_task(task)

    def _prepare_model(self) -> None:
        """Hook between building the v5 env and adopting the definition (no-op by default)."""

    def _use_definition(self, definition: MujocoDefinition) -> None:
        """Adopt ``definition`` and size the observation space from it (call after the v5 init)."""
        if definition.needs_contact_forces != self.needs_contact_forces:
            raise TypeError(
                f"{type(self).__name__}.needs_contact_forces is {self.needs_contact_forces} but its definition "
                f"{type(definition).__name__} {'reads' if definition.needs_contact_forces else 'does not read'} cfrc_ext"
            )
        self.definition = definition
        # Tensors viewing MjData/MjModel: the arrays live as long as self.data and self.model,
        # which gymnasium never replaces (a reset is mj_resetData on the same MjData).
        sources = {
            "qpos": self.data.qpos, "qvel": self.data.qvel, "cfrc_ext": self.data.cfrc_ext,
            "xpos": self.data.xpos, "xipos": self.data.xipos, "body_mass": self.model.body_mass, "cinert": self.data.cinert,
            "cvel": self.data.cvel, "qfrc_actuator": self.data.qfrc_actuator,
        }  # fmt: skip
        views = {name: torch.from_numpy(sources[name])[None] for name in definition.fields}
        self._state_views = SimState(**views)
        self._before_sources = {name: torch.from_numpy(sources[name])[None] for name in definition.before_fields}
        dim = definition.observe(self._state_views).shape[-1]
        self.observation_space = spaces.Box(-np.inf, np.inf, (dim,), np.float64)

    def _apply_task(self, task: Task) -> None:
        self._task_tensors = tasks_to_tensors([task], float_dtype=torch.float64)

    def _get_obs(self) -> np.ndarray:
        # torch.cat in every definition's observe returns fresh memory, never a view of MjData.
        return self.definition.observe(self._state_views)[0].numpy()

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Reset the simulation (v5 reset noise); ``options={"task": ...}`` switches task first."""
        self._reset_task_option(options)
        return super().reset(seed=seed, options=options)

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Advance ``frame_skip`` MuJoCo steps; reward terms of the definition are in ``info``.

        ``action`` must have the action space's shape and be finite (``ValueError`` otherwise);
        values outside the control range are clipped by MuJoCo."""
        # The checks of every face (shape, dtype, finite), before a NaN can reach the simulation.
        act = action_tensor(action, self.action_space, None, dtype=torch.float64)
        before = SimState(**{name: view.clone() for name, view in self._before_sources.items()})
        self.do_simulation(act[0].numpy(), self.frame_skip)
        terms = self.definition.reward_terms(before, self._state_views, act, self._task_tensors)
        reward = float(sum_terms(terms)[0])
        terminated = bool(self.definition.terminated(self._state_views, self._task_tensors)[0])
        info = {name: float(value[0]) for name, value in terms.items()}
        if self.render_mode == "human":
            self.render()
        return self._get_obs(), reward, terminated, False, info

    def __getstate__(self) -> dict[str, Any]:
        # gymnasium's EzPickle rebuilds the env from its constructor arguments; carry the
        # current task rather than the one it was built with.
        state = super().__getstate__()
        state["_ezpickle_kwargs"] = {**state["_ezpickle_kwargs"], "task": self.get_task()}
        return state
