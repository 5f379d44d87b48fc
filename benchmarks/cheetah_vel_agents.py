"""Every agent of metarl on HalfCheetahVel at an equal CPU budget, in one ``metarl plot`` figure.

Each agent is trained from its ``configs/<agent>/cheetah_vel*.yaml`` with the paper's
hyperparameters, on one setting shared by all (PEARL's: 200-step episodes, target velocities
U[0, 3]), for a fixed wall-clock budget (``train.max_minutes``) on one CPU thread, then
evaluated by the shared adaptation-curve evaluation on the held-out test tasks. The budgets are
a few minutes: this measures how far each agent gets on a laptop, not its asymptote (the
papers train for millions to hundreds of millions of steps). PEARL, whose updates are the most
expensive per env step, gets a larger budget. The clock is read between training iterations, so
a run overshoots its budget by up to one iteration (PEARL's, 2000 updates, takes about 10
minutes on one CPU thread).

    python benchmarks/cheetah_vel_agents.py                     # about 95 minutes
    python benchmarks/cheetah_vel_agents.py --scale 0.1         # a quick look
    python benchmarks/cheetah_vel_agents.py --only pearl rl2    # some agents

Runs go to ``--out`` (default ``runs/bench-cheetah-vel``), one directory per agent; a finished
run (one with an evaluation) is reused, so an interrupted benchmark continues where it stopped.
The script prints a markdown table and writes ``table.md`` and the figure ``cheetah_vel_agents.png``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from metarl.common.config import load_config
from metarl.common.files import atomic_write_bytes
from metarl.report.adaptation import load_adaptation, plot_adaptation_curves
from metarl.report.results import mean_ci
from metarl.runner.runs import CONFIG_FILE, checkpoint_step, latest_checkpoint

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Entry:
    """One agent of the comparison: its run-directory name, config and budget in minutes."""

    name: str
    config: str
    minutes: float


ENTRIES = (
    Entry("pearl", "configs/pearl/cheetah_vel.yaml", 20),
    Entry("rl2", "configs/rl2/cheetah_vel.yaml", 6),
    Entry("varibad", "configs/varibad/cheetah_vel.yaml", 8),
    Entry("maml-trpo", "configs/maml/cheetah_vel.yaml", 8),
    Entry("promp", "configs/maml/promp_cheetah_vel.yaml", 8),
    Entry("cavia", "configs/cavia/cheetah_vel.yaml", 6),
    Entry("oracle-concat", "configs/oracle/cheetah_vel.yaml", 6),
    Entry("ppo-multitask", "configs/oracle/cheetah_vel_none.yaml", 5),
    Entry("sb3-ppo-multitask", "configs/sb3/cheetah_vel_ppo_multitask.yaml", 5),
)

# The shared setting: PEARL's env (the family's defaults), CPU, no periodic evaluation (its time
# would come out of the budget), a step budget the clock always reaches first.
COMMON = ("device=cpu", "seed=0", "env.kwargs={}", "train.total_steps=1000000000000", "eval.every_steps=null")


def train(entry: Entry, run_dir: Path, scale: float, threads: int) -> float:
    """Train ``entry`` into ``run_dir`` with ``metarl train``; returns the wall-clock minutes."""
    command = [
        sys.executable, "-m", "metarl", "train", str(ROOT / entry.config), *COMMON,
        f"train.max_minutes={entry.minutes * scale}", "--run-dir", str(run_dir),
    ]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    start = time.perf_counter()
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return (time.perf_counter() - start) / 60


def table_row(run_dir: Path) -> str:
    """``| agent | budget | env steps | first episode | last episode |`` of a finished run."""
    result = load_adaptation(run_dir)
    cfg = load_config(run_dir / CONFIG_FILE)
    steps = checkpoint_step(latest_checkpoint(run_dir))  # from the file name: checkpoints hold whole replay buffers
    mean, low, high = mean_ci(result.returns)
    cells = [f"{mean[k]:.1f} ± {(high[k] - low[k]) / 2:.1f} (ep {k + 1})" for k in (0, len(mean) - 1)]
    return f"| {result.agent} | {cfg.train.max_minutes:g} min | {steps:,} | " + " | ".join(cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench-cheetah-vel", help="folder of the runs")
    parser.add_argument("--only", nargs="+", choices=[e.name for e in ENTRIES], help="train these agents only")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every budget by this (default: 1)")
    parser.add_argument("--threads", type=int, default=1, help="CPU threads per run (default: 1)")
    args = parser.parse_args()
    if args.scale <= 0:
        parser.error(f"--scale must be > 0, got {args.scale}")

    entries = [e for e in ENTRIES if not args.only or e.name in args.only]
    args.out.mkdir(parents=True, exist_ok=True)
    for entry in entries:
        run_dir = args.out / entry.name
        if (run_dir / "eval" / "adaptation.json").is_file():
            print(f"{entry.name}: finished run {run_dir} reused")
            continue
        if run_dir.exists():
            sys.exit(f"{run_dir} holds an unfinished run: continue it with `metarl train --resume {run_dir}` or delete it")
        print(f"{entry.name}: training {entry.config} for {entry.minutes * args.scale:g} min", flush=True)
        print(f"{entry.name}: done in {train(entry, run_dir, args.scale, args.threads):.1f} min", flush=True)

    finished = [e for e in ENTRIES if (args.out / e.name / "eval" / "adaptation.json").is_file()]
    lines = [
        "| agent | CPU budget | env steps | first episode | last episode |",
        "|---|---|---|---|---|",
        *(table_row(args.out / e.name) for e in finished),
    ]
    table = "\n".join(lines) + "\n"
    atomic_write_bytes(args.out / "table.md", table.encode())
    print(table)
    figure = plot_adaptation_curves([args.out / e.name for e in finished], args.out / "cheetah_vel_agents.png")
    print(f"wrote {figure} and {args.out / 'table.md'}")


if __name__ == "__main__":
    main()
