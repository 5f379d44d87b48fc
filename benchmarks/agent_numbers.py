"""Every agent's numbers at a fixed seed, to show what a refactor changed (and what it did not).

Trains one config per agent kind on a short budget with seed 0 and one torch thread, and records
the final adaptation curve (mean return per episode on the held-out tasks) and the last logged
value of every training scalar except the ``perf/*`` timings. Run it before a change to write the
record, and after it to compare: identical numbers where the computation is unchanged; where the
order of random draws changed, differences to be read against the seed-to-seed spread.

    python benchmarks/agent_numbers.py --out numbers-before.json
    python benchmarks/agent_numbers.py --compare numbers-before.json      # prints a table
    python benchmarks/agent_numbers.py --only pearl rl2 --out some.json

It prints a markdown table, one row per agent.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

import torch

#: Agent kind -> (config, overrides): each agent's demo (or its simplest config) on a short budget.
CASES: dict[str, tuple[str, list[str]]] = {
    "pearl": ("configs/pearl/demo.yaml", ["train.total_steps=24000"]),
    "rl2": ("configs/rl2/demo.yaml", ["train.total_steps=51200"]),
    "rl2_trpo": ("configs/rl2/demo.yaml", ["train.total_steps=51200", "rl2.slow_learner=trpo"]),
    "varibad": ("configs/varibad/demo.yaml", ["train.total_steps=19200"]),
    "maml": ("configs/maml/demo.yaml", ["train.total_steps=24000"]),
    "cavia": ("configs/cavia/demo.yaml", ["train.total_steps=24000"]),
    "oracle": ("configs/oracle/navigation2d.yaml", ["train.total_steps=20000"]),
    "oracle_hypernetwork": ("configs/oracle/navigation2d_hypernetwork.yaml", ["train.total_steps=20000"]),
    "sb3_sac": ("configs/sb3/point_robot_sac_multitask.yaml", ["train.total_steps=2000"]),
    "sb3_recurrent_ppo": ("configs/sb3/bernoulli_bandit_recurrent_ppo_rl2.yaml", ["train.total_steps=4096"]),
    "thompson": ("configs/classical/thompson_bernoulli.yaml", []),
}
#: Every case: seed 0, CPU, one thread, no checkpoint but the final one, one log per 1000 steps.
COMMON = ["seed=0", "device=cpu", "train.threads=1", "train.checkpoint_every=100000000", "train.log_every=1000"]


def measure(name: str) -> dict[str, object]:
    """Train case ``name`` in a temporary directory; its curve, last scalars and env steps."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from metarl.common.config import load_config
    from metarl.runner.runs import make_run_dir
    from metarl.runner.train import train

    config, overrides = CASES[name]
    cfg = load_config(config, [*overrides, *COMMON])
    with tempfile.TemporaryDirectory() as folder:
        run = make_run_dir(cfg, Path(folder) / "run")
        trainer = train(cfg, run, quiet=True)
        curve = [e["mean"] for e in json.loads((run / "eval" / "adaptation.json").read_text())["per_episode"]]
        events = EventAccumulator(str(run), size_guidance={"scalars": 0})
        events.Reload()
        scalars = {
            tag: events.Scalars(tag)[-1].value
            for tag in sorted(events.Tags()["scalars"])
            if not tag.startswith("perf/") and not tag.startswith("eval/")
        }
    return {"config": config, "overrides": overrides, "env_steps": trainer.env_steps, "curve": curve, "scalars": scalars}


def largest_difference(a: dict[str, object], b: dict[str, object]) -> tuple[float, str]:
    """The largest absolute difference between two records of one case, and where it is."""
    pairs = [(f"curve[{i}]", x, y) for i, (x, y) in enumerate(zip(a["curve"], b["curve"]))]
    pairs += [(tag, a["scalars"][tag], b["scalars"].get(tag, math.nan)) for tag in a["scalars"]]
    worst = max(((abs(x - y), where) if not (math.isnan(x) and math.isnan(y)) else (0.0, where) for where, x, y in pairs),
                default=(0.0, "-"))  # fmt: skip
    if len(a["curve"]) != len(b["curve"]) or set(a["scalars"]) != set(b["scalars"]):
        return math.inf, "different episodes or tags"
    return worst


def main(argv: Sequence[str] | None = None) -> dict[str, dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=sorted(CASES), help="these cases only (default: all)")
    parser.add_argument("--out", help="write the record to this JSON file")
    parser.add_argument("--compare", help="a record written before: print the differences to it")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    names = args.only or list(CASES)
    record = {name: measure(name) for name in names}
    if args.out:
        Path(args.out).write_text(json.dumps(record, indent=1) + "\n")
    before = json.loads(Path(args.compare).read_text()) if args.compare else {}
    print("| agent | env steps | final curve (mean return per episode) | largest difference to the record |")
    print("|---|---|---|---|")
    for name, row in record.items():
        curve = " / ".join(f"{x:.3f}" for x in row["curve"][:5]) + (" ..." if len(row["curve"]) > 5 else "")
        if name in before:
            size, where = largest_difference(before[name], row)
            diff = "identical" if size == 0 else f"{size:.3g} ({where})"
        else:
            diff = "-"
        print(f"| {name} | {row['env_steps']:,} | {curve} | {diff} |")
    return record


if __name__ == "__main__":
    main()
