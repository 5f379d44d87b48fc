"""Meta-World's benchmarks: class lists, train/test splits and fixed task sets.

The class lists and splits are read from ``metaworld.env_dict`` (ML10, ML45, MT10, MT50 and
ML1 of any class), and the task sets are generated as Meta-World's ``_make_tasks`` generates them,
on the mujoco-4-compatible classes, so a seed gives the same tasks as Meta-World's benchmark
objects (``metaworld.ML10(seed=s).train_tasks`` ...): each class's goals are drawn from one
global NumPy stream through the class's own ``reset`` (with its rejection of goals too close to
the object), so a class's tasks depend on the classes before it in the benchmark.

This module imports ``metaworld`` only when a benchmark is asked for; ``CLASS_NAMES`` names the
50 classes without it (the tests hold it equal to ``metaworld.env_dict``).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .compat import compatible

#: The 50 Meta-World v3 classes, in ``metaworld.env_dict.ALL_V3_ENVIRONMENTS`` order.
CLASS_NAMES: tuple[str, ...] = (
    "assembly-v3", "basketball-v3", "bin-picking-v3", "box-close-v3", "button-press-topdown-v3",
    "button-press-topdown-wall-v3", "button-press-v3", "button-press-wall-v3", "coffee-button-v3",
    "coffee-pull-v3", "coffee-push-v3", "dial-turn-v3", "disassemble-v3", "door-close-v3",
    "door-lock-v3", "door-open-v3", "door-unlock-v3", "hand-insert-v3", "drawer-close-v3",
    "drawer-open-v3", "faucet-open-v3", "faucet-close-v3", "hammer-v3", "handle-press-side-v3",
    "handle-press-v3", "handle-pull-side-v3", "handle-pull-v3", "lever-pull-v3", "pick-place-wall-v3",
    "pick-out-of-hole-v3", "pick-place-v3", "plate-slide-v3", "plate-slide-side-v3",
    "plate-slide-back-v3", "plate-slide-back-side-v3", "peg-insert-side-v3", "peg-unplug-side-v3",
    "soccer-v3", "stick-push-v3", "stick-pull-v3", "push-v3", "push-wall-v3", "push-back-v3",
    "reach-v3", "reach-wall-v3", "shelf-place-v3", "sweep-into-v3", "sweep-v3", "window-open-v3",
    "window-close-v3",
)  # fmt: skip

#: Goals per class in Meta-World's task sets.
GOALS = 50
#: The multi-class benchmarks metarl registers (``metarl/<name>-v0``).
MULTI_CLASS = ("ML10", "ML45", "MT10", "MT50")


@dataclass(frozen=True)
class Benchmark:
    """A Meta-World benchmark: ``name`` (``"ML1-reach"``, ``"ML10"``, ``"MT10"``, ...), its
    training and held-out classes (for MT benchmarks, the held-out classes are the training
    ones: multi-task RL is evaluated on its training tasks) and whether the goal is hidden
    from the observation (the meta-learning benchmarks) or shown (the multi-task ones)."""

    name: str
    train_classes: tuple[str, ...]
    test_classes: tuple[str, ...]
    partially_observable: bool

    @property
    def classes(self) -> tuple[str, ...]:
        """Every class of the benchmark, training classes first (a task's ``env_class`` indexes this)."""
        return self.train_classes + tuple(c for c in self.test_classes if c not in self.train_classes)


def ml1_name(class_name: str) -> str:
    """``"reach-v3"`` -> ``"ML1-reach"``, the benchmark (and family id stem) of one class."""
    return f"ML1-{class_name.removesuffix('-v3')}"


@functools.cache
def benchmark(name: str) -> Benchmark:
    """The benchmark ``name``: ``"ML1-<class>"`` (e.g. ``"ML1-reach"``), ``"ML10"``, ``"ML45"``,
    ``"MT10"`` or ``"MT50"``, with its classes as in ``metaworld.env_dict``."""
    allowed = f"'ML1-<class>' (e.g. 'ML1-reach'), {', '.join(repr(m) for m in MULTI_CLASS)}"
    if not isinstance(name, str):
        raise ValueError(f"benchmark must be a string, got {name!r}; allowed: {allowed}")
    if name.startswith("ML1-"):
        cls = f"{name[4:]}-v3"
        if cls not in CLASS_NAMES:
            raise ValueError(f"unknown Meta-World class {cls!r} in benchmark {name!r}; allowed classes: {list(CLASS_NAMES)}")
        return Benchmark(name, (cls,), (cls,), True)
    if name not in MULTI_CLASS:
        raise ValueError(f"unknown Meta-World benchmark {name!r}; allowed: {allowed}")
    from metaworld import env_dict

    if name.startswith("ML"):
        split = getattr(env_dict, f"{name}_V3")
        return Benchmark(name, tuple(split["train"]), tuple(split["test"]), True)
    classes = tuple(getattr(env_dict, f"{name}_V3"))
    return Benchmark(name, classes, classes, False)


@functools.cache
def task_sets(name: str, seed: int) -> dict[str, tuple[tuple[str, np.ndarray], ...]]:
    """Meta-World's task sets of benchmark ``name`` for ``seed``: ``{"train": ..., "test": ...}``,
    each a tuple of ``(class name, rand_vec)`` in Meta-World's order (50 tasks per class).

    As Meta-World's benchmark objects: ML1 draws its test tasks with ``seed + 1``, ML10/ML45
    their held-out classes' tasks with ``seed``; MT benchmarks test on their training tasks.
    """
    check_seed(seed)
    bench = benchmark(name)
    if bench.name.startswith("ML1-"):
        train = _cached(bench.train_classes, int(seed))
        return {"train": train, "test": _cached(bench.test_classes, int(seed) + 1)}
    train = _cached(bench.train_classes, int(seed))
    test = train if bench.name.startswith("MT") else _cached(bench.test_classes, int(seed))
    return {"train": train, "test": test}


@functools.cache
def first_task(name: str, seed: int) -> tuple[str, np.ndarray]:
    """The first training task of ``task_sets(name, seed)`` at the cost of one reset (the first
    class draws first from the seeded stream)."""
    check_seed(seed)
    return _make(benchmark(name).train_classes[:1], int(seed), goals=1)[0]


def check_seed(seed: object) -> None:
    """``ValueError`` unless ``seed`` is an integer (Meta-World's seed of the task sets)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"task_seed must be an integer, got {seed!r}")


def cache_dir() -> Path:
    """Where generated task sets are kept: ``$METARL_CACHE_DIR/metaworld-<version>``, else
    ``~/.cache/metarl/metaworld-<version>`` (the version of the installed ``metaworld``)."""
    from importlib.metadata import version

    root = os.environ.get("METARL_CACHE_DIR") or Path.home() / ".cache" / "metarl"
    return Path(root) / f"metaworld-{version('metaworld')}"


def _cached(classes: tuple[str, ...], seed: int) -> tuple[tuple[str, np.ndarray], ...]:
    """``_make(classes, seed)``, kept on disk: Meta-World draws each goal through a reset with
    50 settling steps, about a second per class, on every benchmark construction. The file holds
    plain arrays (loaded without pickle); a missing, unreadable or unwritable cache only costs
    the time."""
    key = hashlib.sha256(f"{classes}|{seed}".encode()).hexdigest()[:16]
    path = cache_dir() / f"tasks-{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            names, widths, values = f["names"], f["widths"], f["values"]
        if tuple(dict.fromkeys(names.tolist())) == classes:
            return tuple(_frozen(str(c), v[:w]) for c, w, v in zip(names, widths, values))
    except (OSError, KeyError, ValueError):
        pass
    tasks = _make(classes, seed)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        values = np.zeros((len(tasks), max(v.size for _, v in tasks)))
        for i, (_, v) in enumerate(tasks):
            values[i, : v.size] = v
        tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
        np.savez(tmp, names=np.array([c for c, _ in tasks]), widths=np.array([v.size for _, v in tasks]), values=values)
        os.replace(tmp, path)
    return tasks


def _frozen(cls: str, rand_vec: np.ndarray) -> tuple[str, np.ndarray]:
    rand_vec = np.array(rand_vec, dtype=np.float64)
    rand_vec.flags.writeable = False
    return cls, rand_vec


def _make(classes: tuple[str, ...], seed: int, goals: int = GOALS) -> tuple[tuple[str, np.ndarray], ...]:
    """Meta-World's task generation (``metaworld._make_tasks``) over ``classes``, re-expressed
    without its pickled ``Task`` objects: NumPy's global stream seeded once, then per class in
    order a fresh env whose ``goals`` resets each draw a goal through the class's own reset
    (rejections included); the global stream is restored afterwards. The tests hold the result
    equal to Meta-World's benchmark objects."""
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    out = []
    state = np.random.get_state()
    try:
        np.random.seed(seed)
        for cls in classes:
            env = compatible(ALL_V3_ENVIRONMENTS[cls])()
            env._freeze_rand_vec, env._set_task_called = False, True
            drawn = []
            for _ in range(goals):
                env.reset()
                drawn.append(env._last_rand_vec)
            env.close()
            if len(np.unique(np.array(drawn), axis=0)) != goals:
                raise RuntimeError(f"{cls}: {goals} goals drawn with seed {seed} are not distinct")
            out += [_frozen(cls, v) for v in drawn]
    finally:
        np.random.set_state(state)
    return tuple(out)
