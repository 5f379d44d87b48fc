"""Speed of the batched Meta-World face: env steps per second against gymnasium and the raw physics.

For each class and number of worlds N it measures:

* ``batched``: ``MetaWorldVectorEnv`` (``--backend``, ``--device``) stepping N worlds with random
  actions (actions already on the device), without resets; and the same amortised over a
  500-step episode with its reset (the hand settling: 250 physics substeps per world);
* ``raw physics``: the backend alone stepping the class's model (``mujoco.batch.Batch`` or
  MuJoCo Warp), 5 substeps per env step, random controls, nothing else: the ceiling;
* ``gymnasium sync`` / ``async``: ``SyncVectorEnv`` / ``AsyncVectorEnv`` over Farama's env
  (through ``compat``), a fixed short number of steps. A Farama env holds ~19 MB, so the sync
  baseline runs at N only where that fits in memory (else at ``--gym-envs``; its rate does not
  depend on N: one env after the other), and async runs ``--async-envs`` processes (one env
  each, as gymnasium does; more processes than cores only thrash).

Batched and raw physics are timed in alternating rounds (median kept), so that load from other
processes hits both alike. Prints a markdown table with the ratios.

    OMP_NUM_THREADS=1 python benchmarks/metaworld_speed.py                       # all batched classes, N=500, 1000
    python benchmarks/metaworld_speed.py --classes reach-v3 pick-place-v3 --num-envs 500 1000
    python benchmarks/metaworld_speed.py --device cuda --backend warp --num-envs 4096 16384 --no-gym
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch
from metarl.envs.metaworld.batched import batched_classes
from metarl.envs.metaworld.batched.sim import sim_class
from metarl.envs.metaworld.batched.vector import HORIZON, MetaWorldVectorEnv
from metarl.envs.metaworld.compat import env_class

from metarl.core.vector import available_memory, resolve_device

FARAMA_ENV_BYTES = 20 * 2**20  # measured: ~19 MB per Farama env (its MjData arena, mostly)


@dataclass
class Row:
    """Env steps per second of each implementation for one class at ``num_envs`` worlds."""

    name: str
    num_envs: int
    batched: float
    batched_episode: float
    raw: float
    sync: float | None = None
    sync_envs: int | None = None
    async_: float | None = None
    async_envs: int | None = None


def _timed(step: Callable[[], None], steps: int, sync: Callable[[], None]) -> float:
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    sync()
    return time.perf_counter() - start


def bench_batched_and_raw(name: str, n: int, backend: str, device: str, steps: int, rounds: int,
                          threads: int) -> tuple[float, float, float]:  # fmt: skip
    """(batched steps/s, batched steps/s amortised over an episode with its reset, raw physics steps/s)."""
    dev = resolve_device(device)
    env = MetaWorldVectorEnv(num_envs=n, class_name=name, backend=backend, device=dev, num_threads=threads)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    env.reset(seed=0)
    sync()
    reset_seconds = time.perf_counter() - start
    gen = torch.Generator().manual_seed(0)
    actions = [(torch.rand(n, 4, generator=gen) * 2 - 1).to(dev) for _ in range(8)]
    counter = iter(range(1 << 62))

    def batched_step() -> None:
        env.step(actions[next(counter) % 8])

    raw = sim_class(backend)(env.sim.model, n, threads, device=dev)
    for field in ("qpos", "qvel", "mocap_pos", "mocap_quat", "ctrl"):  # the env's worlds after their reset
        raw.data_field(field).copy_(env.sim.data_field(field))
    for field in env.defn.model_fields:
        raw.model_field(field).copy_(env.sim.model_field(field))
    raw.refresh_static(torch.arange(n, device=raw.device))
    ctrl, mocap = raw.data_field("ctrl"), raw.data_field("mocap_pos")
    controls = [(torch.rand(n, ctrl.shape[1], generator=gen) * 2 - 1).to(ctrl) for _ in range(8)]
    moves = [(torch.rand(n, 3, generator=gen) * 0.02 - 0.01).to(mocap) for _ in range(8)]
    low, high = env.defn.mocap_low.to(mocap), env.defn.mocap_high.to(mocap)

    def raw_step() -> None:  # the same actuation (random gripper and mocap moves), nothing else
        i = next(counter) % 8
        ctrl.copy_(controls[i])
        mocap[:, 0] = torch.minimum(torch.maximum(mocap[:, 0] + moves[i], low), high)
        raw.step(env.defn.frame_skip)

    for _ in range(2):  # warm-up (Warp compiles and captures its graphs here)
        batched_step()
        raw_step()
    batched_rates, raw_rates = [], []
    for _ in range(rounds):
        batched_rates.append(n * steps / _timed(batched_step, steps, sync))
        raw_rates.append(n * steps / _timed(raw_step, steps, sync))
    batched = statistics.median(batched_rates)
    episode = n * HORIZON / (n * HORIZON / batched + reset_seconds)
    return batched, episode, statistics.median(raw_rates)


def farama_factory(name: str, rand_vec: np.ndarray) -> Callable[[], gym.Env]:
    """A Farama env of class ``name`` on the task ``rand_vec`` (goal hidden, as ML1)."""

    def make() -> gym.Env:
        env = env_class(name)()
        env._last_rand_vec, env._freeze_rand_vec, env._set_task_called = rand_vec.copy(), True, True
        return env

    return make


def bench_gymnasium(name: str, n: int, mode: str, steps: int) -> float:
    """Steps/s of gymnasium's ``SyncVectorEnv`` or ``AsyncVectorEnv`` of ``n`` Farama envs."""
    from metarl.envs.metaworld.benchmarks import ml1_name
    from metarl.envs.metaworld.family import MetaWorldEnv

    rand_vecs = MetaWorldEnv(benchmark=ml1_name(name)).task_set_batch("train")["rand_vec"]
    fns = [farama_factory(name, rand_vecs[i % len(rand_vecs)]) for i in range(n)]
    env = gym.vector.SyncVectorEnv(fns) if mode == "sync" else gym.vector.AsyncVectorEnv(fns)
    try:
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        actions = [rng.uniform(-1, 1, (n, 4)).astype(np.float32) for _ in range(4)]
        env.step(actions[0])
        counter = iter(range(1 << 62))
        return n * steps / _timed(lambda: env.step(actions[next(counter) % 4]), steps, lambda: None)
    finally:
        env.close()


def sync_envs_that_fit(n: int, cap: int) -> int:
    """``n`` if that many Farama envs fit in half the available memory, else ``cap``."""
    available = available_memory(torch.device("cpu"))
    if available is not None and n * FARAMA_ENV_BYTES > available // 2:
        return min(n, cap)
    return n


def _fmt(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:,.0f}"


def format_table(rows: list[Row]) -> str:
    """A markdown table of the rows, with the ratios the targets are about."""
    head = ("| class | N | batched steps/s | per episode (with reset) | raw physics | batched / raw | "
            "gym sync (envs) | gym async (procs) | batched / best gym |")  # fmt: skip
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        gyms = [x for x in (r.sync, r.async_) if x is not None]
        best = f"{r.batched / max(gyms):.0f}x" if gyms else "-"
        lines.append(
            f"| {r.name} | {r.num_envs} | {_fmt(r.batched)} | {_fmt(r.batched_episode)} | {_fmt(r.raw)} | "
            f"{r.batched / r.raw:.0%} | {_fmt(r.sync)} ({r.sync_envs or '-'}) | {_fmt(r.async_)} ({r.async_envs or '-'}) | {best} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--classes", nargs="+", default=list(batched_classes()), help="Meta-World classes (batched ones)")
    p.add_argument("--num-envs", nargs="+", type=int, default=[500, 1000])
    p.add_argument("--backend", default="mujoco", choices=["mujoco", "warp"])
    p.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto")
    p.add_argument("--threads", type=int, default=0, help="mujoco backend threads (0: all cores)")
    p.add_argument("--steps", type=int, default=20, help="batched and raw steps per timing round")
    p.add_argument("--rounds", type=int, default=3, help="alternating timing rounds (median kept)")
    p.add_argument("--gym-steps", type=int, default=10, help="timed steps of the gymnasium baselines")
    p.add_argument("--gym-envs", type=int, default=64, help="sync envs where N Farama envs do not fit in memory")
    p.add_argument("--async-envs", type=int, default=8, help="processes of the async baseline")
    p.add_argument("--no-gym", action="store_true", help="skip the gymnasium baselines")
    args = p.parse_args(argv)
    rows = []
    for name in args.classes:
        for n in args.num_envs:
            batched, episode, raw = bench_batched_and_raw(
                name, n, args.backend, args.device, args.steps, args.rounds, args.threads
            )
            row = Row(name, n, batched, episode, raw)
            if not args.no_gym:
                row.sync_envs = sync_envs_that_fit(n, args.gym_envs)
                row.sync = bench_gymnasium(name, row.sync_envs, "sync", args.gym_steps)
                row.async_envs = min(n, args.async_envs)
                row.async_ = bench_gymnasium(name, row.async_envs, "async", args.gym_steps)
            rows.append(row)
            print(format_table([row]).splitlines()[-1], flush=True)
    print()
    print(f"backend={args.backend} device={args.device} threads={args.threads or 'all'} "
          f"({torch.get_num_threads()} torch threads)")  # fmt: skip
    print(format_table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
