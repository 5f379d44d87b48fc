"""Milliseconds per PEARL meta-update (encoder, twin Q, V and policy steps on one meta-batch).

The update is timed alone: the trainer of a PEARL config is built, its replay buffers are filled
with random transitions on every training task (no env steps), then ``--updates`` updates are
timed after ``--warmup`` ones. Extra ``key=value`` arguments override the config.

    OMP_NUM_THREADS=1 python benchmarks/pearl_update.py                          # cheetah-vel, CPU
    python benchmarks/pearl_update.py --device cuda
    python benchmarks/pearl_update.py --configs configs/pearl/demo.yaml configs/pearl/cheetah_vel.yaml

It prints a markdown table, one row per config.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from metarl.common.config import load_config
from metarl.core.vector import resolve_device
from metarl.runner.train import make_trainer

DEFAULT_CONFIGS = ("configs/pearl/cheetah_vel.yaml",)
#: Random transitions put in each training task's replay and encoder buffers before timing.
FILL = 512


@dataclass(frozen=True)
class Measurement:
    """Mean wall-clock milliseconds of ``updates`` timed meta-updates of one config."""

    config: str
    device: str
    threads: int
    samples_per_update: int  # meta_batch * batch_size transitions through the critics
    updates: int
    ms_per_update: float


def fill_replay(trainer, rows: int = FILL) -> None:
    """Put ``rows`` random transitions per training task into both of the trainer's buffers."""
    n, device = trainer.train_tasks.n, trainer.device
    agent = trainer.agent
    generator = torch.Generator(device).manual_seed(0)
    ids = torch.arange(n, device=device).repeat(rows)
    draw = lambda *shape: torch.randn(len(ids), *shape, generator=generator, device=device)  # noqa: E731
    transition = dict(obs=draw(agent.obs_dim), action=draw(agent.action_dim).tanh(), reward=draw(),
                      next_obs=draw(agent.obs_dim), terminated=torch.zeros(len(ids), device=device))  # fmt: skip
    trainer.replay.add(ids, **transition)
    trainer.encoder_replay.add(ids, **transition)


def measure(config: str, device: str, updates: int, warmup: int, overrides: Sequence[str]) -> Measurement:
    """Time ``updates`` meta-updates of ``config`` (after ``warmup`` untimed ones)."""
    cfg = load_config(config, [*overrides, f"device={device}"])
    if cfg.agent != "pearl":
        raise ValueError(f"{config} trains agent {cfg.agent!r}; this benchmark times PEARL's update")
    dev = resolve_device(cfg.device)
    trainer = make_trainer(cfg, dev)
    fill_replay(trainer)
    for _ in range(warmup):
        trainer.update()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    start = time.perf_counter()
    for _ in range(updates):
        trainer.update()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    elapsed = time.perf_counter() - start
    pearl = cfg.agent_config
    return Measurement(config, str(dev), torch.get_num_threads(), pearl.meta_batch * pearl.batch_size, updates,
                       1000 * elapsed / updates)  # fmt: skip


def main(argv: Sequence[str] | None = None) -> list[Measurement]:
    """Run the benchmark and print its table; returns the measurements."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=list(DEFAULT_CONFIGS), help="PEARL configs to time")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    parser.add_argument("--updates", type=int, default=50, help="timed updates per config (default: 50)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed updates first (default: 5)")
    parser.add_argument("overrides", nargs="*", help="key=value config overrides for every config")
    args = parser.parse_args(argv)
    rows = [measure(c, args.device, args.updates, args.warmup, args.overrides) for c in args.configs]
    print("| config | device | threads | samples/update | updates | ms/update |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r.config} | {r.device} | {r.threads} | {r.samples_per_update} | {r.updates} | {r.ms_per_update:.2f} |")
    return rows


if __name__ == "__main__":
    main()
