"""Speed of a multi-class Meta-World training env (ML45 by default): one batch per class, stepped together.

For a benchmark's training classes and N worlds (the classes in equal shares) it measures env
steps per second, random actions, no resets, of:

* ``benchmark face``: ``MetaWorldBenchmarkVectorEnv`` (what ``make_vec("metarl/ML45-v0", ...)``
  builds): one ``mujoco.batch`` per class, the groups stepped one after the other;
* ``groups alone``: the same one-class batches stepped directly, summed (what the face adds is
  the gap: routing actions and gathering observations);
* ``one class, N worlds``: a single batch of the first class with all N worlds, the rate one
  batch holding every world would reach if classes could share one (they cannot: one MuJoCo model
  per batch) - the ceiling of the one-batch design;
* ``gymnasium sync`` / ``async``: ``SyncVectorEnv`` / ``AsyncVectorEnv`` over Farama's envs of
  the same classes (``--gym-envs`` envs; ``--async-envs`` processes).

    OMP_NUM_THREADS=1 python benchmarks/metaworld_benchmark_speed.py --benchmark ML45 --num-envs 1000
    python benchmarks/metaworld_benchmark_speed.py --benchmark ML10 --num-envs 1000 2000 --no-gym
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from metarl.envs.metaworld.batched.benchmark_vector import MetaWorldBenchmarkVectorEnv
from metarl.envs.metaworld.batched.vector import MetaWorldVectorEnv

sys.path.insert(0, str(Path(__file__).resolve().parent))  # metaworld_speed, beside this script
from metaworld_speed import farama_factory  # noqa: E402


def fmt(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:,.0f}"


def _rate(step, n: int, steps: int, rounds: int) -> float:
    step()  # warm-up
    rates = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        rates.append(n * steps / (time.perf_counter() - start))
    return statistics.median(rates)


def bench_native(benchmark: str, n: int, steps: int, rounds: int, threads: int) -> dict[str, float]:
    """Steps/s of the benchmark face, of its groups stepped alone, and of one class at N worlds."""
    env = MetaWorldBenchmarkVectorEnv(num_envs=n, benchmark=benchmark, num_threads=threads)
    env.reset(seed=0)
    gen = torch.Generator().manual_seed(0)
    actions = [torch.rand(n, 4, generator=gen) * 2 - 1 for _ in range(4)]
    counter = iter(range(1 << 62))
    face = _rate(lambda: env.step(actions[next(counter) % 4]), n, steps, rounds)
    groups = list(env._groups.values())  # reset by the face: their worlds are mid-episode
    sizes = [g.num_envs for g in groups]
    group_actions = [[a[:s] for s in sizes] for a in actions]  # any actions of each group's size

    def step_groups() -> None:
        i = next(counter) % 4
        for g, a in zip(groups, group_actions[i]):
            g._step_state(a)  # the group's own step, as the face calls it

    alone = _rate(step_groups, n, steps, rounds)
    one = MetaWorldVectorEnv(num_envs=n, benchmark=benchmark, class_name=groups[0].class_name, num_threads=threads)
    one.reset(seed=0)
    single = _rate(lambda: one.step(actions[next(counter) % 4]), n, steps, rounds)
    return {"face": face, "groups": alone, "one_class": single, "classes": len(groups)}


def bench_gymnasium(benchmark: str, n: int, mode: str, steps: int) -> float:
    """Steps/s of gymnasium's sync or async vectorization of ``n`` Farama envs, classes in turn."""
    from metarl.envs.metaworld.batched.benchmark_vector import interleaved_tasks
    from metarl.envs.metaworld.family import MetaWorldEnv

    family = MetaWorldEnv(benchmark=benchmark)
    tasks = interleaved_tasks(family.task_set_batch("train"), n)
    names = family.class_names
    # The family's tasks pad rand_vec across classes; each Farama env takes its class's own size.
    fns = [farama_factory(names[int(c)], family._rand_vec({"env_class": c, "rand_vec": v}, names[int(c)]))
           for c, v in zip(tasks["env_class"], tasks["rand_vec"])]  # fmt: skip
    env = gym.vector.SyncVectorEnv(fns) if mode == "sync" else gym.vector.AsyncVectorEnv(fns)
    try:
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        actions = [rng.uniform(-1, 1, (n, 4)).astype(np.float32) for _ in range(4)]
        counter = iter(range(1 << 62))
        return _rate(lambda: env.step(actions[next(counter) % 4]), n, steps, 1)
    finally:
        env.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--benchmark", default="ML45", choices=["ML10", "ML45", "MT10", "MT50"])
    p.add_argument("--num-envs", nargs="+", type=int, default=[1000])
    p.add_argument("--threads", type=int, default=0, help="mujoco threads per batch (0: all cores)")
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--gym-envs", type=int, default=None, help="Farama envs of the gymnasium baselines (default: one per class)")
    p.add_argument("--async-envs", type=int, default=8)
    p.add_argument("--gym-steps", type=int, default=10)
    p.add_argument("--no-gym", action="store_true")
    args = p.parse_args(argv)
    print("| benchmark | N | classes | benchmark face | groups alone | face / groups | one class, N worlds | "
          "gym sync (envs) | gym async (procs) | face / best gym |")  # fmt: skip
    print("|" + "---|" * 10)
    for n in args.num_envs:
        r = bench_native(args.benchmark, n, args.steps, args.rounds, args.threads)
        sync = asyn = None
        gym_envs = args.gym_envs or r["classes"]
        if not args.no_gym:
            sync = bench_gymnasium(args.benchmark, gym_envs, "sync", args.gym_steps)
            asyn = bench_gymnasium(args.benchmark, min(args.async_envs, gym_envs), "async", args.gym_steps)
        best = max([x for x in (sync, asyn) if x is not None], default=None)
        gain = "-" if best is None else f"{r['face'] / best:.1f}x"
        print(f"| {args.benchmark} | {n} | {r['classes']} | {fmt(r['face'])} | {fmt(r['groups'])} | "
              f"{r['face'] / r['groups']:.0%} | {fmt(r['one_class'])} | {fmt(sync)} ({gym_envs}) | "
              f"{fmt(asyn)} ({min(args.async_envs, gym_envs)}) | "
              f"{gain} |", flush=True)  # fmt: skip
    print(f"\nthreads={args.threads or 'all'}, {torch.get_num_threads()} torch threads")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
