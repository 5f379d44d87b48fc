"""``MetaWorldVectorEnv``: the batched face of a Meta-World family, one class's worlds in one batch.

Every world runs the class's model in one ``mujoco.batch.Batch`` (``backend="mujoco"``,
float64, MuJoCo C on the CPU's threads) or one MuJoCo Warp model (``backend="warp"``, float32,
CUDA or Warp's CPU device). Mocap actuation, the 39-number observation, reward v2, success and
the other ``info`` entries are computed in torch for all worlds at once (``sawyer.py`` and the
class's module), from the poses of the frames they read, computed in torch at the new state
(``kinematics.py``: what Farama's ``mj_forward`` after the physics computes, without the
collision and constraint work of the simulator's own forward pass, which only a class reading
contact forces runs: ``contacts.py``). The reset replays Farama's
``reset`` (``mj_resetData``, the bodies the task moves, 50 control steps of the hand settling
with the gripper closed, the class's object placement), so a world's episode equals Farama's
single env step for step on ``mujoco``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from metarl.core.tasks import Task
from metarl.core.vector import TaskVectorEnv, bytes_per_env, check_memory, check_num_envs, resolve_device

from . import definition_class
from .contacts import with_pad_contact_sensors
from .kinematics import Kinematics
from .sawyer import FRAME, MOCAP_QUAT, OBS, SETTLE_CTRL, SETTLE_STEPS, Episode, SawyerClass, SimView
from .sim import sim_class

#: Data fields the env reads and writes (the poses are computed from them, ``kinematics.py``).
FIELDS = ("qpos", "qvel", "ctrl", "mocap_pos", "mocap_quat")
#: Farama's horizon (``max_path_length``): its env truncates there.
HORIZON = 500


def _family_and_env(family_cls: Any, class_name: str | None, family_kwargs: dict[str, Any]) -> tuple[Any, str, Any]:
    """The family, the class this batch runs and a Farama env of that class (from the family)."""
    if family_cls is None:
        from ..family import MetaWorldEnv

        family_cls = MetaWorldEnv
        if class_name is not None and "benchmark" not in family_kwargs:
            from ..benchmarks import ml1_name

            family_kwargs = {**family_kwargs, "benchmark": ml1_name(class_name)}
    family = family_cls(**family_kwargs)
    if getattr(family, "class_one_hot", False):
        raise ValueError("class_one_hot=True is not available on the native batched face (one class per batch); "
                         "it is for the multi-class benchmarks (metarl/MT10-v0, ...)")  # fmt: skip
    names = tuple(family.class_names)
    if class_name is None:
        if len(names) != 1:
            raise ValueError(f"{type(family).__name__} has {len(names)} classes; a batch runs one: give class_name, "
                             f"one of {list(names)}")  # fmt: skip
        class_name = names[0]
    if class_name not in names:
        raise ValueError(f"class_name={class_name!r} is not a class of this family; allowed: {list(names)}")
    # The Farama env of the class: the family's, after setting one of the class's tasks.
    for split in ("train", "test"):
        for task in family.task_set(split):
            if family.class_of(task) == class_name:
                family.set_task(task)
                return family, class_name, family.farama_env
    raise ValueError(f"the family has no task of class {class_name!r}")


class MetaWorldVectorEnv(TaskVectorEnv):
    """``num_envs`` worlds of one Meta-World class, each on its own task, stepped as one batch.

    Built by ``gymnasium.make_vec(id, num_envs=N, vectorization_mode="vector_entry_point",
    backend=..., device=...)``, or directly: ``MetaWorldVectorEnv(num_envs=N, class_name="reach-v3")``
    (the ML1 family of that class). ``family_cls`` (default ``family.MetaWorldEnv``) is built
    with ``family_kwargs`` (``benchmark``, ``reward_function_version``, ``partially_observable``,
    ``task_seed``); on a multi-class family ``class_name`` picks the class, and every task given
    must be of it. Tasks: ``{"rand_vec": (n, d)}`` (+ ``"env_class"`` on a multi-class family).

    ``backend``: ``"mujoco"`` (float64; ``num_threads`` threads, 0 = all cores) or ``"warp"``
    (float32 on ``device``). ``max_episode_steps`` (default 500, Farama's horizon) truncates.
    A task takes effect at the world's next reset (as Farama's ``set_task``: the goal and the
    bodies the task moves are set by the reset). ``info`` holds Meta-World's entries that the
    class computes (``success``, ``near_object``, ... as ``(num_envs,)`` tensors; ``grasp_success``
    is missing where it needs contact forces, but for stick-push). Only reward v2 is batched.
    """

    def __init__(
        self,
        family_cls: Any = None,
        num_envs: int = 1,
        device: str | torch.device = "cpu",
        backend: str = "mujoco",
        max_episode_steps: int | None = None,
        tasks: list[Task] | Mapping[str, Any] | None = None,
        autoreset_mode: str = "same_step",
        num_threads: int = 0,
        check_actions: bool = True,
        class_name: str | None = None,
        **family_kwargs: Any,
    ) -> None:
        sim_cls = sim_class(backend)
        num_envs = check_num_envs(num_envs)  # before anything is built
        if class_name is not None:
            definition_class(class_name)  # a class without a batched face: refused before the family is built
        family, self.class_name, env = _family_and_env(family_cls, class_name, family_kwargs)
        if getattr(family, "reward_function_version", "v2") != "v2":
            raise ValueError(f"the batched face computes reward v2 only, got reward_function_version="
                             f"{family.reward_function_version!r}; use the single env for v1")  # fmt: skip
        self.class_index = list(family.class_names).index(self.class_name)
        self.multi_class = len(family.class_names) > 1
        memory_device = torch.device("cpu") if backend == "mujoco" else resolve_device(device)
        check_memory(num_envs, _world_bytes(family, env.model, sim_cls.dtype), memory_device)
        self.backend = backend
        defn_cls = definition_class(self.class_name)
        model, pad_columns = env.model, None
        if defn_cls.contact_object is not None:
            model, pad_columns = with_pad_contact_sensors(env, defn_cls.contact_object)
        self.sim = sim_cls(model, num_envs, num_threads, device=device)
        self.defn: SawyerClass = defn_cls(env, self.sim.dtype, self.sim.device)
        dtype, sim_device = self.sim.dtype, self.sim.device
        self._all = torch.arange(num_envs, device=sim_device)
        views = {name: self.sim.data_field(name) for name in FIELDS}
        self._ctrl, self._mocap_pos, self._mocap_quat = views["ctrl"], views["mocap_pos"], views["mocap_quat"]
        for name in self.defn.model_fields:  # per-world from the start (a Warp graph holds the arrays)
            self.sim.model_field(name)
        if "body_pos" in self.defn.model_fields:
            body_pos = self.sim.model_field("body_pos")
        else:
            body_pos = self.defn.const(env.model.body_pos)[None]
        frames = self.defn.frames
        kinematics = Kinematics(env.model, frames["bodies"], frames["sites"], frames["geoms"], dtype, sim_device)
        self.view = SimView(views["qpos"], views["qvel"], self._mocap_pos, self._mocap_quat, body_pos, self.sim,
                            kinematics)  # fmt: skip
        if pad_columns is not None:
            self.view.sensordata = self.sim.data_field("sensordata")
            self.view.pad_columns = torch.as_tensor(pad_columns, device=sim_device)
        self._prev = torch.zeros(num_envs, FRAME, dtype=dtype, device=sim_device)
        self._obs = torch.zeros(num_envs, OBS, dtype=dtype, device=sim_device)
        self._episode: Episode = {}
        self._info: dict[str, torch.Tensor] = {}
        self._mocap_quat_value = torch.tensor(MOCAP_QUAT, dtype=dtype, device=sim_device)
        self._settle_ctrl = torch.tensor(SETTLE_CTRL, dtype=dtype, device=sim_device)
        if tasks is None and self.multi_class:
            tasks = self._class_tasks(family, num_envs)
        super().__init__(
            family, num_envs, device, HORIZON if max_episode_steps is None else max_episode_steps, tasks,
            autoreset_mode, sim_dtype=dtype, sim_device=sim_device, check_actions=check_actions,
        )  # fmt: skip

    # ----- tasks ----------------------------------------------------------------------------------
    def _class_tasks(self, family: Any, num_envs: int) -> dict[str, np.ndarray]:
        """The family's training tasks of this batch's class (its test tasks if it has none),
        world ``i`` on task ``i`` mod their number (as the default of an ML1 family)."""
        for split in ("train", "test"):
            batch = family.task_set_batch(split)
            keep = np.flatnonzero(np.asarray(batch["env_class"]) == self.class_index)
            if keep.size:
                rows = keep[np.arange(num_envs) % keep.size]
                return {k: np.asarray(v)[rows] for k, v in batch.items()}
        raise ValueError(f"the family has no task of class {self.class_name!r}")

    def _assign_tasks(self, batch: Mapping[str, Any], mask: torch.Tensor | None) -> None:
        if self.multi_class:  # one batch runs one class: refuse others before anything changes
            given = batch["env_class"]
            classes = np.asarray(given.cpu() if isinstance(given, torch.Tensor) else given).reshape(-1)
            if (classes != self.class_index).any():
                raise ValueError(
                    f"this batch runs class {self.class_name!r} (env_class={self.class_index}), got tasks with "
                    f"env_class {sorted(set(classes.tolist()))}; a batch holds one class's worlds"
                )
        super()._assign_tasks(batch, mask)

    # ----- episodes -------------------------------------------------------------------------------
    def _reset_state(self, mask: torch.Tensor) -> None:
        ids = torch.nonzero(mask).flatten()
        if ids.numel() == 0:
            return
        defn, view = self.defn, self.view
        rand_vec = self._tasks["rand_vec"][ids, : defn.rand_vec_size]
        # Farama's reset: reset_model (moves the task's bodies), mj_resetData, reset_model again.
        self.sim.reset(ids)
        defn.place(view, ids, rand_vec)
        if "body_pos" in defn.model_fields:
            self.sim.refresh_static(ids)
        # _reset_hand: the mocap at the hand's start, gripper closed, 50 control steps.
        arm = defn.ids.mocap
        self._mocap_pos[ids, arm] = defn.hand_init_pos
        self._mocap_quat[ids, arm] = self._mocap_quat_value
        self._ctrl[ids] = self._settle_ctrl
        # Farama reads the poses after the settling as mj_step leaves them: at the state before
        # its last substep, which is where they are computed here.
        self.sim.step_worlds(ids, SETTLE_STEPS * defn.frame_skip - 1)
        before_last = self.view.qpos[ids]
        self.sim.step_worlds(ids, 1)
        body_pos = view.body_pos[ids] if view.body_pos.shape[0] == self.num_envs else view.body_pos
        poses = view.kinematics(before_last, self._mocap_pos[ids], self._mocap_quat[ids], body_pos)
        settled = {"init_tcp": defn.tcp_center(poses), "left_pad": poses.xpos[:, defn.ids.left_pad],
                   "right_pad": poses.xpos[:, defn.ids.right_pad], "xpos": poses.xpos,
                   "poses": poses}  # fmt: skip
        view.refresh()
        episode = defn.reset(view, ids, rand_vec, settled)
        self._store_episode(ids, episode)
        frame = defn.frame(view)[ids]
        self._prev[ids] = frame
        obs = self._obs.clone()  # a new tensor: the one returned before (final_obs) stays as it was
        obs[ids] = torch.cat((frame, frame, defn.goal(episode)), dim=-1)  # a reset's observation is not clipped
        self._obs = obs

    def _store_episode(self, ids: torch.Tensor, episode: Episode) -> None:
        if "target_pos" not in episode:
            raise ValueError(f"{type(self.defn).__name__}.reset must return 'target_pos'; got {sorted(episode)}")
        for key, value in episode.items():
            if key not in self._episode:
                self._episode[key] = value.new_zeros(self.num_envs, *value.shape[1:])
            self._episode[key][ids] = value.to(self._episode[key].dtype)

    def _step_state(self, actions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        action = actions.to(torch.float32)  # Farama's action space is float32, and its step computes in it
        self._mocap_pos.copy_(self.defn.mocap_step(self._mocap_pos, action))
        self._mocap_quat.copy_(self._mocap_quat_value.expand_as(self._mocap_quat))
        self._ctrl[:, 0] = action[:, 3]
        self._ctrl[:, 1] = -action[:, 3]
        self.sim.step(self.defn.frame_skip)
        if self.view.sensordata is not None:  # Farama's mj_forward after the physics: the contacts it reads
            self.sim.forward(self._all)
        self.view.refresh()
        reward = self.evaluate(action)
        return reward, torch.zeros(self.num_envs, dtype=torch.bool, device=self.sim.device)

    def evaluate(self, action: torch.Tensor) -> torch.Tensor:
        """Observation (clipped to the observation space, as Farama's step), reward and ``info`` of the
        worlds' poses (``view``, refreshed at the current state) after ``action`` (float32 ``(N, 4)``);
        advances the frame stack."""
        frame = self.defn.frame(self.view)
        obs = torch.cat((frame, self._prev, self.defn.goal(self._episode)), dim=-1)
        obs = torch.minimum(torch.maximum(obs, self.defn.obs_low), self.defn.obs_high)
        self._prev = frame
        reward, self._info = self.defn.evaluate(obs, action, self.view, self._episode)
        self._obs = obs
        return reward

    def step(self, actions: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, dict]:
        """Step every world; ``info`` adds the class's Meta-World entries (``(num_envs,)`` tensors)."""
        obs, reward, terminated, truncated, info = super().step(actions)
        info.update({k: v.to(self.device) for k, v in self._info.items()})
        return obs, reward, terminated, truncated, info

    def _observe(self) -> torch.Tensor:
        return self._obs

    # ----- state (to synchronise with other faces and backends) -----------------------------------
    def get_state(self) -> dict[str, torch.Tensor]:
        """Copies of what determines the worlds' next steps: ``qpos``, ``qvel``, ``mocap_pos``,
        ``mocap_quat``, the previous frame (``prev_frame``) and the episode's constants."""
        state = {"qpos": self.view.qpos, "qvel": self.view.qvel, "mocap_pos": self._mocap_pos,
                 "mocap_quat": self._mocap_quat, "prev_frame": self._prev, **self._episode}  # fmt: skip
        return {k: v.clone() for k, v in state.items()}

    def set_state(self, state: Mapping[str, Any]) -> None:
        """Set every world's state from ``get_state``'s dict (of this or another backend), then the
        forward pass; the next step continues from it."""
        targets = {"qpos": self.view.qpos, "qvel": self.view.qvel, "mocap_pos": self._mocap_pos,
                   "mocap_quat": self._mocap_quat, "prev_frame": self._prev, **self._episode}  # fmt: skip
        unknown = set(state) - set(targets)
        if unknown:
            raise ValueError(f"unknown state entries {sorted(unknown)}; allowed: {sorted(targets)}")
        for key, value in state.items():
            targets[key].copy_(torch.as_tensor(value).to(targets[key]))
        self.view.forward(self._all)


def _world_bytes(family: Any, model: Any, dtype: torch.dtype) -> int:
    """Rough bytes per world: state and the fields the definitions read, in the backend's float
    size (``bytes_per_env``); the simulator's own scratch is not counted."""
    itemsize = torch.empty((), dtype=dtype).element_size()
    values = model.nq + model.nv + model.nu + 7 * model.nmocap
    values += 7 * model.nbody + 3 * model.nsite + 12 * model.ngeom + FRAME + OBS  # poses
    return bytes_per_env(family, values * itemsize, itemsize)
