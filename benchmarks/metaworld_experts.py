"""How far mujoco 4.0 moves Meta-World's published physics: its scripted experts on both.

For each Meta-World v3 class, the class's scripted expert (``metaworld.policies.ENV_POLICY_MAP``)
runs on the class's 50 ML1 test tasks (``ML1(name, seed=S).test_tasks``) with the goal in the
observation (the experts read it there), 500 steps per episode, on two sides:

- ``ours``: mujoco 4.0 in metarl's env, ``gymnasium.make("metarl/ML1-<class>-v0",
  partially_observable=False)`` on ``task_set("test")``;
- ``farama``: mujoco 3.3.0 with Farama's unmodified ``metaworld`` 3.1.1, in a virtual environment
  this script creates (``--venv``, default ``~/.cache/metarl/metaworld-mujoco33``, reused when it
  is there; PyPI must be reachable the first time). The script runs itself there as a worker
  (``--worker``), so both sides share one episode loop; the worker imports neither metarl nor
  torch and prints one JSON line per class.

An episode succeeds when ``info["success"]`` is 1 at any step (Meta-World's rule); its return is
the whole episode's. The experts and resets are deterministic, so ``--episodes`` above 1 repeats
each task's episode (a determinism check, not more data). A class is flagged when the 95% Wilson
score intervals of its two success rates do not overlap (conservative: overlap can hide a
two-proportion test's rejection). Since both sides run the same tasks (checked: same
``rand_vec``), the table also counts the episodes whose outcome differs between them.

    python benchmarks/metaworld_experts.py                          # all 50 classes, both sides
    python benchmarks/metaworld_experts.py --classes reach-v3 push-v3 --tasks 10 --json out.json
    python benchmarks/metaworld_experts.py --sides ours --classes reach-v3 --tasks 2 --max-steps 100

It prints a Markdown table, one row per class.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SIDES = ("farama", "ours")
LABELS = {"farama": "mujoco 3.3.0", "ours": "mujoco 4.0"}
DEFAULT_VENV = Path.home() / ".cache" / "metarl" / "metaworld-mujoco33"
# metaworld imports gymnasium.envs.mujoco, whose own dependencies (packaging) come with gymnasium's extra.
FARAMA_REQUIREMENTS = ("metaworld==3.1.1", "mujoco==3.3.0", "gymnasium[mujoco]")
HORIZON = 500
Z95 = 1.959963984540054


@dataclass
class SideResult:
    """One class's episodes on one side: per episode its success, return and task (``rand_vec``)."""

    success: list[bool]
    returns: list[float]
    rand_vecs: list[list[float]]

    @property
    def rate(self) -> float:
        return float(np.mean(self.success))

    @property
    def mean_return(self) -> float:
        return float(np.mean(self.returns))


@dataclass
class ClassResult:
    """One class on the sides that ran, and the comparison when both did."""

    name: str
    sides: dict[str, SideResult]

    @property
    def same_tasks(self) -> bool | None:
        if len(self.sides) < 2:
            return None
        a, b = (np.asarray(s.rand_vecs) for s in self.sides.values())
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=0.0, atol=1e-12))

    @property
    def differing(self) -> int | None:
        """Episodes whose success differs between the sides (same tasks, same order)."""
        if len(self.sides) < 2:
            return None
        a, b = (np.asarray(s.success) for s in self.sides.values())
        return int(np.sum(a != b))

    @property
    def flagged(self) -> bool:
        """The two success rates' 95% Wilson intervals do not overlap."""
        if len(self.sides) < 2:
            return False
        (lo_a, hi_a), (lo_b, hi_b) = (wilson(sum(s.success), len(s.success)) for s in self.sides.values())
        return hi_a < lo_b or hi_b < lo_a


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (``(0, 1)`` when ``n`` is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


# --- one episode loop for both sides ------------------------------------------------------------------


def run_expert(
    env: Any, policy: Any, tasks: Sequence[Any], apply: Callable[[Any, Any], list[float]], episodes: int, max_steps: int
) -> SideResult:
    """``episodes`` episodes of ``max_steps`` steps per task; ``apply(env, task)`` sets the task
    and returns its ``rand_vec``."""
    result = SideResult([], [], [])
    for task in tasks:
        rand_vec = apply(env, task)
        for _ in range(episodes):
            obs, _ = env.reset()
            total, success = 0.0, False
            for _ in range(max_steps):
                obs, reward, terminated, truncated, info = env.step(policy.get_action(obs))
                total += float(reward)
                success = success or bool(info["success"] >= 1.0)
                if terminated:  # never in Meta-World; guards a wrapper that ends early
                    break
            result.success.append(success)
            result.returns.append(total)
            result.rand_vecs.append(rand_vec)
    return result


def _visible(task: Any) -> Any:
    """A Meta-World ``Task`` of an ML benchmark with the goal made observable (its data otherwise as is)."""
    import pickle

    from metaworld.types import Task

    data = pickle.loads(task.data)
    data["partially_observable"] = False
    return Task(env_name=task.env_name, data=pickle.dumps(data))


def _farama_task(env: Any, task: Any) -> list[float]:
    import pickle

    env.set_task(task)
    return [float(x) for x in pickle.loads(task.data)["rand_vec"]]


def farama_side(name: str, seed: int, n_tasks: int, episodes: int, max_steps: int) -> SideResult:
    """Farama's unmodified classes and tasks (run in the mujoco 3.3.0 venv)."""
    import metaworld
    from metaworld.policies import ENV_POLICY_MAP

    benchmark = metaworld.ML1(name, seed=seed)
    env = benchmark.test_classes[name]()
    tasks = [_visible(t) for t in benchmark.test_tasks[:n_tasks]]
    try:
        return run_expert(env, ENV_POLICY_MAP[name](), tasks, _farama_task, episodes, max_steps)
    finally:
        env.close()


def _family_id(name: str) -> str:
    return f"metarl/ML1-{name.removesuffix('-v3')}-v0"


def _ours_task(env: Any, task: Any) -> list[float]:
    env.unwrapped.set_task(task)
    return [float(x) for x in np.asarray(task["rand_vec"])]


def ours_side(name: str, seed: int, n_tasks: int, episodes: int, max_steps: int) -> SideResult:
    """metarl's ML1 family of ``name`` under mujoco 4.0 (installed mujoco and metaworld)."""
    import gymnasium
    from metaworld.policies import ENV_POLICY_MAP

    import metarl  # noqa: F401  (registers the families)

    env = gymnasium.make(_family_id(name), partially_observable=False, task_seed=seed)
    try:
        tasks = env.unwrapped.task_set("test")[:n_tasks]
        return run_expert(env, ENV_POLICY_MAP[name](), tasks, _ours_task, episodes, max_steps)
    finally:
        env.close()


SIDE_RUNNERS: dict[str, Callable[..., SideResult]] = {"farama": farama_side, "ours": ours_side}


def versions() -> dict[str, str]:
    """The versions that matter on this side."""
    from importlib.metadata import version

    return {p: version(p) for p in ("mujoco", "metaworld", "gymnasium", "numpy")}


def run_side(
    side: str, classes: Sequence[str], seed: int, n_tasks: int, episodes: int, max_steps: int
) -> Iterator[tuple[str, SideResult]]:
    """Each class's result on ``side``, in this process, as it finishes."""
    warnings.filterwarnings("ignore")  # the experts warn on every step that their gains exceed 1
    for name in classes:
        start = time.monotonic()
        result = SIDE_RUNNERS[side](name, seed, n_tasks, episodes, max_steps)
        print(f"[{side}] {name}: success {result.rate:.2f}, return {result.mean_return:.1f} "
              f"({time.monotonic() - start:.0f} s)", file=sys.stderr, flush=True)  # fmt: skip
        yield name, result


# --- the mujoco 3.3.0 side: a venv and a worker in it ---------------------------------------------------


def ensure_venv(venv: Path) -> Path:
    """The python of ``venv`` with Farama's pinned package; created (``python -m venv`` and pip from
    PyPI) unless it already imports mujoco 3.3.0 and metaworld."""
    python = venv / "bin" / "python"
    check = "import metaworld, mujoco; assert mujoco.__version__ == '3.3.0', mujoco.__version__"
    if python.exists() and subprocess.run([python, "-c", check], capture_output=True).returncode == 0:
        return python
    print(f"creating {venv} with {' '.join(FARAMA_REQUIREMENTS)} ...", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *FARAMA_REQUIREMENTS], check=True)
    subprocess.run([python, "-c", check], check=True)
    return python


def start_worker(python: Path, args: argparse.Namespace) -> subprocess.Popen:
    """This script as the ``farama`` worker under ``python``; it prints JSON lines on stdout."""
    command = [str(python), str(Path(__file__).resolve()), "--worker", "--classes", *args.classes,
               "--seed", str(args.seed), "--tasks", str(args.tasks), "--episodes", str(args.episodes),
               "--max-steps", str(args.max_steps)]  # fmt: skip
    # The parent's venv must not leak into the worker's interpreter.
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    return subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)


def read_worker(process: subprocess.Popen) -> tuple[dict[str, str], dict[str, SideResult]]:
    """The worker's versions and per-class results; ``RuntimeError`` if it fails."""
    lines = [json.loads(line) for line in process.stdout if line.startswith("{")]  # skips stray prints
    if process.wait() != 0:
        raise RuntimeError(f"the mujoco 3.3.0 worker exited with status {process.returncode}")
    info = lines[0]["versions"]
    return info, {d["name"]: SideResult(d["success"], d["returns"], d["rand_vecs"]) for d in lines[1:]}


def worker(args: argparse.Namespace) -> None:
    """The ``farama`` side in this interpreter: one JSON line of versions, then one per class."""
    print(json.dumps({"versions": versions()}), flush=True)
    for name, result in run_side("farama", args.classes, args.seed, args.tasks, args.episodes, args.max_steps):
        print(json.dumps({"name": name, **result.__dict__}), flush=True)


# --- the table ----------------------------------------------------------------------------------------


def _rate(result: SideResult) -> str:
    lo, hi = wilson(sum(result.success), len(result.success))
    return f"{result.rate:.2f} [{lo:.2f}, {hi:.2f}]"


def table(results: Sequence[ClassResult], sides: Sequence[str]) -> str:
    """The Markdown table: success (with its 95% Wilson interval) and mean return per side, and
    with both sides their differences (4.0 minus 3.3.0), the differing episodes and the flag."""
    both = len(sides) == 2
    head = ["class", *(f"success {LABELS[s]}" for s in sides)]
    head += ["Δ success"] if both else []
    head += [f"return {LABELS[s]}" for s in sides]
    head += ["Δ return", "episodes differing", "flag"] if both else []
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r.name, *(_rate(r.sides[s]) for s in sides)]
        if both:
            cells.append(f"{r.sides['ours'].rate - r.sides['farama'].rate:+.2f}")
        cells += [f"{r.sides[s].mean_return:.1f}" for s in sides]
        if both:
            flag = "**differs**" if r.flagged else ""
            flag += "" if r.same_tasks else " tasks differ!"
            cells += [f"{r.sides['ours'].mean_return - r.sides['farama'].mean_return:+.1f}", str(r.differing), flag]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


def summary(results: Sequence[ClassResult], sides: Sequence[str]) -> str:
    """Overall success per side, the flagged classes and the classes whose expert is weak (< 0.9)."""
    lines = []
    for s in sides:
        rate = np.mean([r.sides[s].rate for r in results])
        weak = [f"{r.name} ({r.sides[s].rate:.2f})" for r in results if r.sides[s].rate < 0.9]
        lines.append(f"- {LABELS[s]}: mean expert success over {len(results)} classes {rate:.3f}; "
                     f"below 0.9: {', '.join(weak) or 'none'}")  # fmt: skip
    if len(sides) == 2:
        flagged = [r.name for r in results if r.flagged]
        lines.append(f"- success differs beyond the 95% Wilson intervals: {', '.join(flagged) or 'none'}")
        if not all(r.same_tasks for r in results):
            lines.append(f"- tasks differ between the sides: {[r.name for r in results if not r.same_tasks]}")
    return "\n".join(lines)


# --- entry point --------------------------------------------------------------------------------------


def all_classes() -> list[str]:
    from metaworld.env_dict import ALL_V3_ENVIRONMENTS

    return list(ALL_V3_ENVIRONMENTS)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--classes", nargs="+", help="Meta-World v3 classes (default: all 50)")
    parser.add_argument("--seed", type=int, default=0, help="ML1 benchmark seed of the test tasks")
    parser.add_argument("--tasks", type=int, default=50, help="first N of the 50 test tasks")
    parser.add_argument("--episodes", type=int, default=1, help="episodes per task")
    parser.add_argument("--max-steps", type=int, default=HORIZON, help="steps per episode")
    parser.add_argument("--sides", nargs="+", choices=SIDES, default=list(SIDES), help="which sides to run")
    parser.add_argument("--jobs", type=int, choices=(1, 2), default=1,
                        help="2 runs the mujoco 3.3.0 worker beside this process; 1 runs it first")  # fmt: skip
    parser.add_argument("--venv", type=Path, default=DEFAULT_VENV, help="virtual environment of mujoco 3.3.0")
    parser.add_argument("--json", type=Path, help="write the numbers here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for key in ("tasks", "episodes", "max_steps"):
        if not getattr(args, key) >= 1:
            parser.error(f"--{key.replace('_', '-')} must be >= 1, got {getattr(args, key)}")
    if args.tasks > 50:
        parser.error(f"--tasks must be at most 50 (ML1 has 50 test tasks per class), got {args.tasks}")
    known = all_classes()
    args.classes = args.classes or known
    unknown = [c for c in args.classes if c not in known]
    if unknown:
        parser.error(f"unknown classes {unknown}; allowed: {known}")
    args.sides = [s for s in SIDES if s in args.sides]
    return args


def main(argv: Sequence[str] | None = None) -> list[ClassResult]:
    """Run the sides asked for, print the table and return the results."""
    args = parse(argv)
    if args.worker:
        worker(args)
        return []
    found: dict[str, dict[str, SideResult]] = {}
    meta: dict[str, dict[str, str]] = {}
    process = start_worker(ensure_venv(args.venv), args) if "farama" in args.sides else None
    if process is not None and args.jobs == 1:  # one core: the worker first, then this side
        meta["farama"], found["farama"] = read_worker(process)
    if "ours" in args.sides:
        meta["ours"] = versions()
        found["ours"] = dict(run_side("ours", args.classes, args.seed, args.tasks, args.episodes, args.max_steps))
    if process is not None and args.jobs == 2:
        meta["farama"], found["farama"] = read_worker(process)
    results = [ClassResult(name, {s: found[s][name] for s in args.sides}) for name in args.classes]
    settings = f"seed {args.seed}, {args.tasks} test tasks x {args.episodes} episodes, {args.max_steps} steps"
    stacks = "; ".join(f"{LABELS[s]}: " + ", ".join(f"{k} {v}" for k, v in meta[s].items()) for s in args.sides)
    print(f"Meta-World scripted experts, ML1 test tasks ({settings}); {stacks}")
    print()
    print(table(results, args.sides))
    print()
    print(summary(results, args.sides))
    if args.json:
        per_class = {
            r.name: {"flagged": r.flagged, "same_tasks": r.same_tasks, "differing": r.differing,
                     **{s: r.sides[s].__dict__ for s in args.sides}}
            for r in results
        }  # fmt: skip
        settings = {k: getattr(args, k) for k in ("seed", "tasks", "episodes", "max_steps")}
        record = {**settings, "versions": meta, "classes": per_class}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=1))
    return results


if __name__ == "__main__":
    main()
