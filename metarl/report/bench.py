"""``metarl bench``: env steps per second of a batched env against the gymnasium baselines."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import gymnasium as gym
import numpy as np
import torch

from metarl.core.vector import resolve_device

# Process-per-env async vectorization only thrashes beyond a few processes per core.
DEFAULT_ASYNC_ENVS = 8


@dataclass(frozen=True)
class BenchRow:
    """One measured implementation: env steps per second at ``num_envs`` sub-envs."""

    name: str
    num_envs: int
    steps_per_second: float


def timed_rate(step: Callable[[], None], num_envs: int, steps: int, max_seconds: float, sync: Callable[[], None]) -> float:
    """Env steps per second of ``step`` (advancing ``num_envs`` envs), after a short warm-up.

    Stops early after ``max_seconds`` so that slow baselines at large N stay measurable.
    """
    for _ in range(min(5, steps)):
        step()
    sync()
    done, start = 0, time.perf_counter()
    while done < steps:
        step()
        done += 1
        if done % 10 == 0 and time.perf_counter() - start > max_seconds:
            break
    sync()
    return done * num_envs / (time.perf_counter() - start)


def random_actions(space: gym.Space, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` pre-drawn actions, so that sampling is not part of the measured time."""
    space.seed(seed)
    return [space.sample() for _ in range(count)]


def bench_batched(env_id: str, num_envs: int, device: str, steps: int, max_seconds: float, **kwargs) -> BenchRow:
    """Steps/s of the batched (vector entry point) env, actions already on the device."""
    dev = resolve_device(device)
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", device=dev, **kwargs)
    actions = [torch.as_tensor(a, device=dev) for a in random_actions(env.action_space, 16)]
    env.reset(seed=0)
    counter = iter(range(1 << 62))
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    rate = timed_rate(lambda: env.step(actions[next(counter) % 16]), num_envs, steps, max_seconds, sync)
    env.close()
    label = f"metarl batched ({dev.type}{', ' + kwargs['backend'] if 'backend' in kwargs else ''})"
    return BenchRow(label, num_envs, rate)


def bench_gymnasium(env_id: str, num_envs: int, mode: str, steps: int, max_seconds: float) -> BenchRow:
    """Steps/s of gymnasium's ``SyncVectorEnv`` or ``AsyncVectorEnv`` over the single env."""
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode)
    actions = random_actions(env.action_space, 16)
    env.reset(seed=0)
    counter = iter(range(1 << 62))
    rate = timed_rate(lambda: env.step(actions[next(counter) % 16]), num_envs, steps, max_seconds, lambda: None)
    env.close()
    return BenchRow(f"gymnasium {'SyncVectorEnv' if mode == 'sync' else 'AsyncVectorEnv'}", num_envs, rate)


def bench_raw_physics(env_id: str, num_envs: int, backend: str, device: str, steps: int, max_seconds: float) -> BenchRow | None:
    """The physics ceiling: the backend's simulator stepping the family's model under the same
    random actions and nothing else (no observation, reward, resets). ``None`` without a model."""
    family = gym.make(env_id).unwrapped
    if not hasattr(family, "model") or not hasattr(family, "frame_skip"):
        return None
    from metarl.envs.mujoco.vector import backend_class

    sim = backend_class(backend)(family.model, num_envs, device=resolve_device(device) if backend == "warp" else "cpu")
    ctrl = sim.data_field("ctrl")
    space = gym.vector.utils.batch_space(family.action_space, num_envs)
    actions = [torch.as_tensor(a).to(ctrl) for a in random_actions(space, 16)]
    counter = iter(range(1 << 62))

    def step() -> None:
        ctrl.copy_(actions[next(counter) % 16])
        sim.step(family.frame_skip)

    sync = torch.cuda.synchronize if sim.device.type == "cuda" else (lambda: None)
    rate = timed_rate(step, num_envs, steps, max_seconds, sync)
    name = "mujoco.batch" if backend == "mujoco" else f"MuJoCo Warp ({sim.device.type})"
    return BenchRow(f"raw {name} physics (ceiling)", num_envs, rate)


def run_bench(
    env_id: str,
    num_envs: int,
    device: str = "cpu",
    steps: int = 200,
    async_envs: int = DEFAULT_ASYNC_ENVS,
    max_seconds: float = 10.0,
    **env_kwargs,
) -> list[BenchRow]:
    """Measure the batched env, the gymnasium baselines and, for MuJoCo families, the raw physics."""
    rows = [bench_batched(env_id, num_envs, device, steps, max_seconds, **env_kwargs)]
    rows.append(bench_gymnasium(env_id, num_envs, "sync", steps, max_seconds))
    rows.append(bench_gymnasium(env_id, min(async_envs, num_envs), "async", steps, max_seconds))
    raw = bench_raw_physics(env_id, num_envs, env_kwargs.get("backend", "mujoco"), device, steps, max_seconds)
    if raw is not None:
        rows.append(raw)
    return rows


def format_bench(rows: list[BenchRow]) -> list[list[str]]:
    """Table rows: implementation, N, steps/s and the batched env's rate relative to each."""
    ours = rows[0].steps_per_second
    return [
        [r.name, str(r.num_envs), f"{r.steps_per_second:,.0f}", f"{ours / r.steps_per_second:,.2f}x"]
        for r in rows
    ]
