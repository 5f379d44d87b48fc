"""The README's main demo over seeds: does every seed adapt, also when interrupted and resumed?

Trains a config (default: the PEARL demo) once per seed through ``metarl train`` in subprocesses,
``--parallel`` at a time; with ``--interrupt-at F`` each run is stopped (SIGINT, as Ctrl-C) once a
fraction F of its steps is done and continued with ``metarl train --resume``. Then it prints, per
seed, the mean return of each episode of the trial on the held-out tasks, the random policy's
and the known-task optimum's scores on the same tasks, and the minutes of training.

    python benchmarks/demo_seeds.py                                   # seeds 0-4, two at a time
    python benchmarks/demo_seeds.py --seeds 0 1 --interrupt-at 0.5 --out runs/demo-seeds

It prints a markdown table, one row per seed.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CONFIG = "configs/pearl/demo.yaml"


@dataclass(frozen=True)
class SeedResult:
    """One seed's final adaptation curve (mean return per episode) and its reference scores."""

    seed: int
    returns: list[float]
    random: float | None
    optimum: float | None
    minutes: float
    interrupted_at: int | None


def _train(config: str, run: Path, seed: int, overrides: Sequence[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "metarl.cli", "train", config, f"seed={seed}", *overrides, "--run-dir", str(run)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _steps_done(run: Path) -> int:
    steps = [int(p.stem.split("_")[1]) for p in (run / "checkpoints").glob("step_*.pt")]
    return max(steps, default=0)


def run_seed(config: str, out: Path, seed: int, overrides: Sequence[str], interrupt_at: float | None, total: int) -> SeedResult:
    """Train one seed (interrupting and resuming it when asked) and read its result."""
    run = out / f"s{seed}"
    start = time.monotonic()
    process = _train(config, run, seed, overrides)
    stopped = None
    if interrupt_at is not None:
        while process.poll() is None and _steps_done(run) < interrupt_at * total:
            time.sleep(0.5)
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            stopped = _steps_done(run)
    _, err = process.communicate()
    if process.returncode not in (0, 130):
        raise RuntimeError(f"seed {seed} failed:\n{err}")
    if process.returncode == 130:
        stopped = _steps_done(run)
        resumed = subprocess.run([sys.executable, "-m", "metarl.cli", "train", "--resume", str(run)],
                                 capture_output=True, text=True)  # fmt: skip
        if resumed.returncode != 0:
            raise RuntimeError(f"seed {seed} did not resume:\n{resumed.stderr}")
    meta = json.loads((run / "eval" / "adaptation.json").read_text())
    refs = meta.get("references", {})
    returns = [e["mean"] for e in meta["per_episode"]]
    return SeedResult(seed, returns, refs.get("random"), refs.get("optimum"), (time.monotonic() - start) / 60, stopped)


def main(argv: Sequence[str] | None = None) -> list[SeedResult]:
    """Run the seeds and print the table; returns the results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=DEFAULT_CONFIG)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--parallel", type=int, default=2, help="runs at a time (default: 2)")
    parser.add_argument("--interrupt-at", type=float, default=None, metavar="F", help="Ctrl-C each run at this fraction")
    parser.add_argument("--out", default="runs/demo-seeds", help="folder of the runs (one per seed)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides for every seed")
    args = parser.parse_args(argv)
    from metarl.common.config import load_config

    total = load_config(args.config, args.overrides).train.total_steps
    out = Path(args.out)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(args.parallel) as pool:
        results = list(pool.map(lambda s: run_seed(args.config, out, s, args.overrides, args.interrupt_at, total), args.seeds))
    episodes = len(results[0].returns)
    print(f"| seed | {' | '.join(f'episode {k + 1}' for k in range(episodes))} | random | optimum | minutes | interrupted at |")
    print("|---" * (episodes + 5) + "|")
    for r in results:
        cells = [f"{x:.2f}" for x in r.returns]
        refs = [f"{x:.2f}" if x is not None else "-" for x in (r.random, r.optimum)]
        stop = f"{r.interrupted_at:,}" if r.interrupted_at else "-"
        print(f"| {r.seed} | {' | '.join(cells)} | {' | '.join(refs)} | {r.minutes:.1f} | {stop} |")
    return results


if __name__ == "__main__":
    main()
