"""Training throughput: env steps per second of whole training iterations (collection and
learning update together), for agent configs at several numbers of parallel tasks.

Each measurement builds the config's trainer with the number of parallel tasks overridden
(``rl2.num_envs``, ``varibad.num_envs``, ``oracle.num_envs``; the meta-batch for ``maml`` and
``cavia``), runs ``--warmup`` iterations (buffers filling, first allocations), then times
iterations until ``--seconds`` have passed (at least one). Extra ``key=value`` arguments apply
to every config, e.g. ``env.kwargs.backend=warp`` for the MuJoCo Warp simulator.

    OMP_NUM_THREADS=1 python benchmarks/training_throughput.py                 # CPU, configs' own sizes
    python benchmarks/training_throughput.py --device cuda --num-envs 1024 4096 16384
    python benchmarks/training_throughput.py --device cuda --num-envs 4096 env.kwargs.backend=warp \\
        --configs configs/rl2/cheetah_vel.yaml configs/varibad/cheetah_vel.yaml

It prints a markdown table, one row per config and size.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from metarl.common.config import load_config
from metarl.core.vector import resolve_device
from metarl.runner.train import make_trainer, seed_everything

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = (
    "configs/rl2/bernoulli_bandit.yaml",
    "configs/rl2/cheetah_vel.yaml",
    "configs/varibad/gridworld.yaml",
    "configs/varibad/cheetah_vel.yaml",
)
#: The config key that sets how many tasks an agent's training iteration runs in parallel.
PARALLEL_TASKS_KEY = {
    "rl2": "rl2.num_envs",
    "varibad": "varibad.num_envs",
    "oracle": "oracle.num_envs",
    "maml": "maml.meta_batch",
    "cavia": "cavia.meta_batch",
}


@dataclass(frozen=True)
class Measurement:
    """Env steps per second of ``iterations`` timed training iterations of one config."""

    config: str
    agent: str
    device: str
    parallel_tasks: int | None  # None: the agent has no such setting
    steps_per_iteration: int
    iterations: int
    steps_per_second: float


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that the clock reads finished iterations."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(config: str, parallel_tasks: int | None, device: str, overrides: Sequence[str], warmup: int,
            seconds: float) -> Measurement:  # fmt: skip
    """Time whole training iterations of ``config`` with ``parallel_tasks`` tasks per iteration
    (``None``: the config's own number)."""
    agent = load_config(ROOT / config).agent
    key = PARALLEL_TASKS_KEY.get(agent)
    if parallel_tasks is not None and key is None:
        raise ValueError(f"{config}: agent {agent!r} has no parallel-task key; allowed agents: {sorted(PARALLEL_TASKS_KEY)}")
    sized = [f"{key}={parallel_tasks}"] if parallel_tasks is not None else []
    cfg = load_config(ROOT / config, [f"device={device}", *sized, *overrides])
    dev = resolve_device(cfg.device)
    seed_everything(cfg.seed)
    trainer = make_trainer(cfg, dev)
    for _ in range(warmup):
        trainer.train_iteration()
    synchronize(dev)
    start_steps, start, iterations = trainer.env_steps, time.perf_counter(), 0
    while iterations == 0 or time.perf_counter() - start < seconds:
        trainer.train_iteration()
        synchronize(dev)
        iterations += 1
    elapsed, steps = time.perf_counter() - start, trainer.env_steps - start_steps
    tasks = getattr(cfg.agent_config, key.split(".", 1)[1]) if key else None
    return Measurement(config, agent, str(dev), tasks, steps // iterations, iterations, steps / elapsed)


def markdown_table(rows: Sequence[Measurement]) -> str:
    """The measurements as a markdown table."""
    lines = [
        "| config | device | parallel tasks | env steps per iteration | iterations timed | env steps/s (update included) |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {r.config} | {r.device} | {r.parallel_tasks or '-'} | {r.steps_per_iteration:,} | {r.iterations} | {r.steps_per_second:,.0f} |"
        for r in rows
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides for every config")
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), help="configs, relative to the repo root")
    parser.add_argument("--num-envs", type=int, nargs="+", default=None,
                        help="parallel tasks per iteration (default: each config's own)")  # fmt: skip
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed iterations first (default 1)")
    parser.add_argument("--seconds", type=float, default=20.0, help="time iterations for this long (default 20)")
    args = parser.parse_args(argv)
    if args.warmup < 0 or args.seconds < 0 or any(n < 1 for n in args.num_envs or []):
        parser.error(f"--warmup and --seconds must be >= 0 and --num-envs >= 1; got {args.warmup}, {args.seconds}, {args.num_envs}")
    return args


def main(argv: Sequence[str] | None = None) -> list[Measurement]:
    args = parse_args(argv)
    rows = []
    for config in args.configs:
        for n in args.num_envs or [None]:
            rows.append(measure(config, n, args.device, args.overrides, args.warmup, args.seconds))
            print(f"{config} x {rows[-1].parallel_tasks or 'its own size'}: {rows[-1].steps_per_second:,.0f} env steps/s", flush=True)
    print(markdown_table(rows))
    return rows


if __name__ == "__main__":
    main()
