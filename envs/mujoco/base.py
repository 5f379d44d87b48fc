"""The single-env face of the MuJoCo families: a gymnasium v5 env driven by a batched definition.

``MujocoMetaEnv`` is mixed in *before* a gymnasium v5 env class (``class X(MujocoMetaEnv,
HalfCheetahEnv)``): the v5 class supplies the model file, ``frame_skip``, the simulation and its
reset noise (drawn from ``np_random``); the family's ``MujocoDefinition`` supplies observation,
reward and termination, called with a batch of one on tensors that view ``MjData`` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from metarl.meta_env import MetaEnv
from metarl.tasks import Task, tasks_to_tensors

from .definitions import MujocoDefinition, SimState, sum_terms

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


def check_v5_kwargs(owner: str, kwargs: Mapping[str, Any]) -> None:
    """Reject v5 keyword arguments that the family's definition fixes."""
    fixed = sorted(set(kwargs) & DEFINITION_KWARGS)
    if fixed:
        raise ValueError(
            f"{owner}: keyword argument(s) {fixed} are fixed by the family's definition "
            f"(metarl.envs.mujoco.definitions); allowed extra keyword arguments: {list(PASSTHROUGH_KWARGS)}"
        )


class MujocoMetaEnv(MetaEnv):
    """Mixin turning a gymnasium v5 MuJoCo env into a task-distributed family (one task at a time).

    Subclasses call the v5 ``__init__``, then ``self._use_definition(...)``, then
    ``self._init_task(task)``. Observations are float64 like the v5 envs'.
    """

    definition: MujocoDefinition
    _task_tensors: dict[str, torch.Tensor]

    def _use_definition(self, definition: MujocoDefinition) -> None:
        """Adopt ``definition`` and size the observation space from it (call after the v5 init)."""
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
        self._before_fields = definition.before_fields
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
        """Advance ``frame_skip`` MuJoCo steps; reward terms of the definition are in ``info``."""
        before = SimState(**{name: view.clone() for name, view in self._before_sources.items()})
        self.do_simulation(action, self.frame_skip)
        act = torch.from_numpy(np.asarray(action, dtype=np.float64)).reshape(1, -1)
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
