"""Meta-World as metarl families: one benchmark (ML1 of a class, ML10, ML45, MT10, MT50) per family.

``MetaWorldEnv`` holds one Farama env per class of its benchmark (built lazily, through the
mujoco-4 compatibility subclass) and steps the one its task names. Dynamics, observation,
reward, ``info`` and the 500-step horizon are Farama's code, untouched. A task is the class's
parametric variation: ``{"rand_vec": (d,)}`` on an ML1 family (``d`` is 3 or 6: object and/or
goal positions, as the class's ``_random_reset_space`` defines them) and, on a multi-class
family, ``{"env_class": i, "rand_vec": (6,)}`` with ``i`` indexing ``benchmark.classes`` and the
unused entries of a 3-number ``rand_vec`` zero. The fixed ``train``/``test`` task sets are
Meta-World's own (``benchmarks.task_sets``); ``sample_tasks`` draws from the training classes
through each class's own reset, rejection of goals too close to the object included.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar, Literal

import mujoco
import numpy as np
from gymnasium import spaces

from metarl.core.meta_env import Distribution, MetaEnv, Split
from metarl.core.tasks import Task, param_error

from .benchmarks import Benchmark, check_seed, first_task, task_sets
from .benchmarks import benchmark as find_benchmark
from .compat import env_class

#: Meta-World's per-step ``info`` entries, passed through by the single and the batched faces.
INFO_KEYS = ("success", "near_object", "grasp_success", "grasp_reward", "in_place_reward", "obj_to_target",
             "unscaled_reward")  # fmt: skip
HORIZON = 500


class _Rejected(Exception):
    """A class's reset asked for a second ``rand_vec``: the task's goal is one it rejects."""


class MetaWorldEnv(MetaEnv):
    """A Meta-World benchmark as one task-distributed family (see the module docstring).

    ``benchmark``: ``"ML1-<class>"`` (e.g. ``"ML1-reach"``), ``"ML10"``, ``"ML45"``, ``"MT10"``
    or ``"MT50"``. ``reward_function_version``: ``"v2"`` (default, Meta-World's current reward)
    or ``"v1"``. ``partially_observable``: hide the goal (zeros in the last 3 entries); ``None``
    takes the benchmark's setting (hidden for ML, shown for MT). ``task_seed``: the seed of
    Meta-World's task sets (``metaworld.ML10(seed=task_seed)`` gives the same tasks).
    ``class_one_hot``: append the one-hot of the task's class to the observation (Meta-World's
    ``OneHotWrapper``, the usual input of multi-task agents on MT10/MT50).
    """

    metadata = {"render_modes": ["human", "rgb_array", "depth_array"], "render_fps": 80}
    trial_episodes: ClassVar[int] = 10  # Meta-World's adaptation episodes per task
    #: Meta-World's protocol: evaluation episodes after the ``trial_episodes`` adaptation ones.
    evaluation_episodes: ClassVar[int] = 3
    info_keys: ClassVar[tuple[str, ...]] = INFO_KEYS
    reference: ClassVar[str] = "Meta-World v3 (Yu et al. 2019), Farama metaworld 3.1.1 on mujoco 4"

    def __init__(
        self,
        benchmark: str = "ML1-reach",
        task: Task | None = None,
        reward_function_version: Literal["v1", "v2"] = "v2",
        partially_observable: bool | None = None,
        task_seed: int = 0,
        render_mode: str | None = None,
        class_one_hot: bool = False,
    ) -> None:
        self.benchmark: Benchmark = find_benchmark(benchmark)
        if reward_function_version not in ("v1", "v2"):
            raise ValueError(f"reward_function_version must be 'v1' or 'v2', got {reward_function_version!r}")
        if partially_observable not in (None, True, False):
            raise ValueError(f"partially_observable must be None, True or False, got {partially_observable!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")
        check_seed(task_seed)
        self.reward_function_version = reward_function_version
        self.partially_observable = (
            self.benchmark.partially_observable if partially_observable is None else bool(partially_observable)
        )
        self.render_mode = render_mode
        if class_one_hot not in (True, False):
            raise ValueError(f"class_one_hot must be True or False, got {class_one_hot!r}")
        self.class_one_hot = bool(class_one_hot)
        self.task_seed = int(task_seed)
        self.class_names = self.benchmark.classes
        # Goals known to pass their class's reset (Meta-World's sets, sampled ones, checked ones).
        self._accepted: set[tuple[str, bytes]] = set()
        self._task_space = self._build_task_space()
        # Farama's bounds of both settings together (the goal's range and the zeros of a hidden goal):
        # a hidden goal's own [0, 0] bounds would make every checker warn.
        self.observation_space = _union([_observation_space(self._probe(c), hidden)
                                         for c in self.class_names for hidden in (False, True)])  # fmt: skip
        if self.class_one_hot:
            n = len(self.class_names)
            low, high = self.observation_space.low, self.observation_space.high
            self.observation_space = spaces.Box(np.concatenate([low, np.zeros(n)]), np.concatenate([high, np.ones(n)]),
                                                dtype=np.float64)  # fmt: skip
        self.num_train_tasks, self.num_test_tasks = self.task_set_size("train"), self.task_set_size("test")
        self.action_space = spaces.Box(-1.0, 1.0, (4,), np.float32)
        self._env: Any = None
        self._env_class: str | None = None
        if task is None:  # the first training task, without generating the whole set (~1 s per class)
            cls, rand_vec = first_task(self.benchmark.name, self.task_seed)
            self._accepted.add((cls, rand_vec.tobytes()))
            task = self._as_task(cls, rand_vec)
        self._init_task(task)

    def _sets(self, split: Split) -> tuple[tuple[str, np.ndarray], ...]:
        """Meta-World's task set ``split`` as ``(class, rand_vec)`` pairs (generated once per process)."""
        if split not in ("train", "test"):
            raise ValueError(f"unknown task split {split!r}; allowed: {list(self.available_splits())}")
        pairs = task_sets(self.benchmark.name, self.task_seed)[split]
        self._accepted.update((c, v.tobytes()) for c, v in pairs)
        return pairs

    # ----- the task distribution -----------------------------------------------------------------
    @property
    def multi_class(self) -> bool:
        """Whether tasks name their class (``env_class``): every benchmark but ML1."""
        return len(self.class_names) > 1

    @property
    def task_space(self) -> spaces.Dict:  # type: ignore[override]
        """``rand_vec`` (and ``env_class`` on a multi-class benchmark): see the module docstring."""
        return self._task_space

    def _build_task_space(self) -> spaces.Dict:
        boxes = [self._probe(c)._random_reset_space for c in self.class_names]
        if not self.multi_class:
            return spaces.Dict({"rand_vec": spaces.Box(boxes[0].low, boxes[0].high, dtype=np.float64)})
        width = max(b.low.size for b in boxes)
        low = np.min([np.pad(b.low, (0, width - b.low.size)) for b in boxes], axis=0)
        high = np.max([np.pad(b.high, (0, width - b.high.size)) for b in boxes], axis=0)
        return spaces.Dict({
            "env_class": spaces.Discrete(len(self.class_names)),
            "rand_vec": spaces.Box(low, high, dtype=np.float64),
        })  # fmt: skip

    def task_group(self, task: Task) -> str:
        """A task's Meta-World class: the protocol's success rates are per class."""
        return self.class_of(task)

    def class_of(self, task: Task) -> str:
        """The Meta-World class name of a (validated) task."""
        return self.class_names[int(task["env_class"])] if self.multi_class else self.class_names[0]

    def _rand_vec(self, task: Task, cls: str) -> np.ndarray:
        size = self._probe(cls)._random_reset_space.low.size
        return np.asarray(task["rand_vec"], dtype=np.float64)[:size]

    def _as_task(self, cls: str, rand_vec: np.ndarray) -> dict[str, np.ndarray]:
        if not self.multi_class:
            return {"rand_vec": rand_vec.copy()}
        padded = np.zeros(self.task_space["rand_vec"].shape, np.float64)
        padded[: rand_vec.size] = rand_vec
        return {"env_class": np.int64(self.class_names.index(cls)), "rand_vec": padded}

    def task_set_batch(self, split: Split) -> dict[str, np.ndarray]:
        """Meta-World's own task set ``split``: ``"train"`` (the training classes, 50 goals each)
        or ``"test"`` (the held-out classes; an MT benchmark's training tasks)."""
        tasks = [self._as_task(c, v) for c, v in self._sets(split)]
        return {k: np.stack([t[k] for t in tasks]) for k in tasks[0]}

    def task_set_size(self, split: Split) -> int:
        """50 goals per class of the split, without generating them."""
        if split not in ("train", "test"):
            raise ValueError(f"unknown task split {split!r}; allowed: {list(self.available_splits())}")
        return 50 * len(self.benchmark.train_classes if split == "train" else self.benchmark.test_classes)

    def task_classes(self, split: Split) -> list[str]:
        """The class name of each task of ``task_set(split)``, in order."""
        return [c for c, _ in self._sets(split)]

    def _sample_task_batch(self, rng: np.random.Generator, n: int, distribution: Distribution) -> dict[str, np.ndarray]:
        classes = rng.choice(len(self.benchmark.train_classes), size=n)
        tasks = []
        for i in classes:
            cls = self.benchmark.train_classes[int(i)]
            probe = self._probe(cls)
            # The class's own reset draws the goal (and redraws rejected ones) from probe.np_random.
            probe._np_random = np.random.default_rng(rng.integers(2**63))
            probe._freeze_rand_vec, probe.seeded_rand_vec = False, True
            try:
                probe.reset_model()
            finally:
                probe._freeze_rand_vec, probe.seeded_rand_vec = True, False
            rand_vec = np.asarray(probe._last_rand_vec, dtype=np.float64)
            self._accepted.add((cls, rand_vec.tobytes()))
            tasks.append(self._as_task(cls, rand_vec))
        return {k: np.stack([t[k] for t in tasks]) for k in tasks[0]}

    def _check_task_batch(self, batch: dict[str, np.ndarray]) -> None:
        n = len(batch["rand_vec"])
        for i in range(n):
            task = {k: v[i] for k, v in batch.items()}
            cls = self.class_of(task)
            box = self._probe(cls)._random_reset_space
            full = np.asarray(task["rand_vec"], dtype=np.float64)
            rand_vec = full[: box.low.size]
            if np.any(full[box.low.size :] != 0):
                raise param_error("rand_vec", batch["rand_vec"], i, f"{cls} uses {box.low.size} numbers; the rest must be 0")
            if not (np.all(rand_vec >= box.low) and np.all(rand_vec <= box.high)):
                raise param_error("rand_vec", batch["rand_vec"], i, f"outside {cls}'s range [{box.low}, {box.high}]")
            if (cls, rand_vec.tobytes()) not in self._accepted:
                self._check_accepted(cls, rand_vec, batch, i)

    def _check_accepted(self, cls: str, rand_vec: np.ndarray, batch: dict[str, np.ndarray], i: int) -> None:
        """Run the class's reset on the probe env with ``rand_vec`` as its only draw: a reset that
        asks for another (its goal is too close to the object) would loop forever in Farama's code."""
        probe = self._probe(cls)
        calls = []

        def draw() -> np.ndarray:
            if calls:
                raise _Rejected
            calls.append(1)
            return rand_vec.copy()

        probe._get_state_rand_vec = draw  # an instance attribute: the class's method is untouched
        try:
            probe.reset_model()
        except _Rejected:
            raise param_error(
                "rand_vec", batch["rand_vec"], i, f"{cls}'s reset rejects this goal (too close to the object)"
            ) from None
        finally:
            del probe._get_state_rand_vec
        self._accepted.add((cls, rand_vec.tobytes()))

    def _apply_task(self, task: Task) -> None:
        cls = self.class_of(task)
        rand_vec = self._rand_vec(task, cls)
        if self._env is not None and self._env_class == cls:
            self._env._last_rand_vec = rand_vec
            return
        # One Farama env at a time (a sub-env switching class rebuilds it, ~50 ms): N copies of
        # an ML45 family holding one env per class would need N x 50 simulations.
        if self._env is not None:
            self._env.close()
        self._env = _farama_env(cls, self.reward_function_version, self.partially_observable, rand_vec, self.render_mode)
        self._env_class = cls

    # ----- gymnasium API ---------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """Start an episode of the current task (Farama's reset; ``options={"task": ...}`` first)."""
        super().reset(seed=seed)
        self._reset_task_option(options)
        obs, info = self._env.reset()
        return self._observation(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Farama's step: reward (v2 or v1) and ``info`` (``success`` and the other entries) as it computes them."""
        action = np.asarray(action, dtype=np.float32)
        if action.shape != (4,) or not np.all(np.isfinite(action)):
            raise ValueError(f"action must be 4 finite numbers (x, y, z, gripper) in [-1, 1], got {action!r}")
        obs, reward, terminated, truncated, info = self._env.step(action)
        return self._observation(obs), float(reward), bool(terminated), bool(truncated), info

    def _observation(self, obs: np.ndarray) -> np.ndarray:
        if not self.class_one_hot:
            return obs
        one_hot = np.zeros(len(self.class_names))
        one_hot[self.class_names.index(self._env_class)] = 1.0
        return np.concatenate([obs, one_hot])

    def render(self) -> Any:
        """Farama's rendering of the current class (``render_mode`` given at construction)."""
        return self._env.render()

    def close(self) -> None:
        """Close the Farama env this family plays (the shared probes stay for other families)."""
        if self._env is not None:
            self._env.close()
            self._env, self._env_class = None, None

    # ----- the episode, for checkpoints (SB3 runs stop and resume mid-episode) -------------------------
    def episode_state(self) -> dict[str, Any]:
        """The current episode as arrays and plain values: the Farama env's MuJoCo integration
        state (``mj_getState``) and its Python attributes that are numbers, flags, strings or
        arrays (the episode constants its reset computed, the previous frame, the step count)."""
        env = self._env
        physics = np.empty(mujoco.mj_stateSize(env.model, _INTEGRATION))
        mujoco.mj_getState(env.model, env.data, physics, _INTEGRATION)
        plain = {k: v for k, v in vars(env).items() if _is_plain(v)}
        # Some attributes are live views of MjData (Farama's init_left_pad = data.body("leftpad").xpos
        # follows the pad all episode): kept as "which field, where", to be views again on load.
        views = {k: _view_of(env.data, v) for k, v in plain.items() if isinstance(v, np.ndarray)}
        views = {k: v for k, v in views.items() if v is not None}
        return {"physics": physics, "attributes": {k: _plain(v) for k, v in plain.items() if k not in views},
                "views": {k: {"field": f, "start": i, "size": n} for k, (f, i, n) in views.items()}}  # fmt: skip

    def load_episode_state(self, state: dict[str, Any]) -> None:
        """Continue the episode ``episode_state`` saved, on this env's current task (set first)."""
        env = self._env
        env.reset()  # the task's model fields (sites, bodies its reset places) as the saved episode had them
        attributes = state["attributes"]
        unknown = sorted(set(attributes) - {k for k, v in vars(env).items() if _is_plain(v)})
        if unknown:
            raise ValueError(f"the saved Meta-World episode has attributes {unknown} that {type(env).__name__} lacks")
        for name, value in attributes.items():
            setattr(env, name, np.array(value) if isinstance(value, np.ndarray) else value)
        for name, view in state.get("views", {}).items():
            field = getattr(env.data, str(view["field"])) if str(view["field"]) in _data_fields(env.data) else None
            start, size = int(view["start"]), int(view["size"])
            if field is None or not 0 <= start <= field.size - size:
                raise ValueError(f"the saved Meta-World episode's {name!r} views MjData.{view['field']} at "
                                 f"{start}:{start + size}, which {type(env).__name__} does not have")  # fmt: skip
            setattr(env, name, field.reshape(-1)[start : start + size])
        physics = np.asarray(state["physics"], dtype=np.float64)
        if physics.shape != (mujoco.mj_stateSize(env.model, _INTEGRATION),):
            raise ValueError(f"the saved physics state has shape {physics.shape}; {type(env).__name__} needs "
                             f"({mujoco.mj_stateSize(env.model, _INTEGRATION)},)")  # fmt: skip
        mujoco.mj_setState(env.model, env.data, physics, _INTEGRATION)
        mujoco.mj_forward(env.model, env.data)

    @property
    def farama_env(self) -> Any:
        """The Farama env (mujoco-4-compatible subclass) playing the current task."""
        return self._env

    # ----- Farama envs -----------------------------------------------------------------------------
    def _probe(self, cls: str) -> Any:
        return _probe(cls, self.reward_function_version)


def _farama_env(cls: str, reward_function_version: str, partially_observable: bool, rand_vec: np.ndarray | None,
                render_mode: str | None = None) -> Any:  # fmt: skip
    """A Farama env of class ``cls`` (compatible subclass) with ``rand_vec`` as its frozen task."""
    env = env_class(cls)(reward_function_version=reward_function_version, render_mode=render_mode)
    if env._partially_observable != partially_observable:
        env._partially_observable = partially_observable
        del env.sawyer_observation_space  # cached per observability (Farama's set_task does the same)
    env._set_task_called = True
    env._freeze_rand_vec = True
    env._last_rand_vec = None if rand_vec is None else np.array(rand_vec, dtype=np.float64)
    return env


@functools.cache
def _probe(cls: str, reward_function_version: str) -> Any:
    """One env per class and reward version in this process, shared by the families that check
    and sample tasks on it (its simulation state is scratch: nobody steps it)."""
    return _farama_env(cls, reward_function_version, True, None)


def _observation_space(probe: Any, partially_observable: bool) -> spaces.Box:
    """Farama's observation space of the probe's class with the goal hidden or shown (a cached
    property of the observability, recomputed and restored here)."""
    saved = probe._partially_observable
    probe._partially_observable = partially_observable
    probe.__dict__.pop("sawyer_observation_space", None)
    try:
        return probe.sawyer_observation_space
    finally:
        probe._partially_observable = saved
        probe.__dict__.pop("sawyer_observation_space", None)

_INTEGRATION = mujoco.mjtState.mjSTATE_INTEGRATION  # time, qpos, qvel, act, warm start, mocap, controls


def _data_fields(data: Any) -> list[str]:
    return [n for n in dir(data) if not n.startswith("_") and isinstance(getattr(data, n, None), np.ndarray)]


def _view_of(data: Any, value: np.ndarray) -> tuple[str, int, int] | None:
    """``(field, start, size)`` when ``value`` is a contiguous 1-D view of an MjData array."""
    for name in _data_fields(data):
        field = getattr(data, name)
        if field.size and np.shares_memory(field, value) and value.ndim == 1 and value.flags.c_contiguous:
            offset = value.__array_interface__["data"][0] - field.__array_interface__["data"][0]
            return name, offset // field.itemsize, value.size
    return None


def _is_plain(value: Any) -> bool:
    if isinstance(value, np.ndarray):
        return value.dtype.kind in "biuf"
    return value is None or isinstance(value, (bool, int, float, str, np.bool_, np.integer, np.floating))


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    return value.item() if isinstance(value, np.generic) else value


def _union(boxes: list[spaces.Box]) -> spaces.Box:
    low = np.min([b.low for b in boxes], axis=0)
    high = np.max([b.high for b in boxes], axis=0)
    return spaces.Box(low, high, dtype=np.float64)
