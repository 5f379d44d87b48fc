"""MuJoCo Warp (float32) against MuJoCo C for every batched Meta-World class.

Along the scripted expert's trajectory on the ``mujoco`` backend, every ``--every`` steps the
state is copied into a ``warp`` env and both take the same step; the largest deviations of the
observation, the reward and the ``info`` entries are printed per class, beside the tolerances the
test suite holds its Warp classes to (``tests/envs/test_metaworld_batched.py`` runs a few classes;
Warp compiles each model for 10-30 s on the CPU, so the whole set is this script's job).

    OMP_NUM_THREADS=1 python benchmarks/metaworld_warp_check.py                  # every batched class, Warp's CPU device
    python benchmarks/metaworld_warp_check.py --classes reach-v3 push-v3 --device cuda
"""

from __future__ import annotations

import argparse
import warnings

import numpy as np
import torch
from metarl.envs.metaworld.batched import batched_classes
from metarl.envs.metaworld.batched.vector import MetaWorldVectorEnv

#: The suite's shared tolerances (absolute): measured over 60 synchronised steps, 4 worlds, expert
#: and random actions: observations 9.7e-4 (pick-place, the puck in the gripper), rewards 3.2e-3
#: (drawer-close: its Gaussian reach term is steep), other info entries 1e-3.
WARP_TOL = {"obs": 3e-3, "reward": 2e-2}


def expert(name: str):
    """Farama's scripted expert of class ``name``."""
    from metaworld.policies import ENV_POLICY_MAP

    return ENV_POLICY_MAP[name]()


def warp_deviations(name: str, worlds: int = 2, steps: int = 45, every: int = 15, device: str = "cpu") -> dict[str, float]:
    """Largest absolute differences (``obs``, ``reward``, ``info``) between ``warp`` and ``mujoco``,
    each step taken by both from the same state, every ``every`` steps of the expert's trajectory."""
    kwargs = dict(num_envs=worlds, class_name=name, partially_observable=False, autoreset_mode="disabled")
    ref = MetaWorldVectorEnv(backend="mujoco", num_threads=1, **kwargs)
    warp = MetaWorldVectorEnv(backend="warp", device=device, **kwargs)
    assert warp.sim.dtype == torch.float32
    obs, _ = ref.reset()
    warp.reset()
    policy = expert(name)
    worst = {"obs": 0.0, "reward": 0.0, "info": 0.0}
    for t in range(1, steps + 1):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the experts warn about their gains
            action = torch.as_tensor(np.stack([policy.get_action(o.copy()) for o in obs.numpy()]), dtype=torch.float32)
        if t % every:
            obs, *_ = ref.step(action)
            continue
        warp.set_state(ref.get_state())
        obs, rew_r, _, _, info_r = ref.step(action)
        obs_w, rew_w, _, _, info_w = warp.step(action)
        worst["obs"] = max(worst["obs"], float((obs_w.double().cpu() - obs).abs().max()))
        worst["reward"] = max(worst["reward"], float((rew_w.double().cpu() - rew_r).abs().max()))
        for key in warp.defn.info_keys:
            worst["info"] = max(worst["info"], float((info_w[key].double().cpu() - info_r[key]).abs().max()))
    return worst


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--classes", nargs="+", default=list(batched_classes()))
    p.add_argument("--device", default="cpu", help="Warp's device: cpu or cuda[:N]")
    args = p.parse_args(argv)
    print(f"| class | observation | reward | info | within the suite's tolerance (obs {WARP_TOL['obs']}, "
          f"reward and info {WARP_TOL['reward']}) |\n|---|---|---|---|---|")  # fmt: skip
    failed = 0
    for name in args.classes:
        d = warp_deviations(name, device=args.device)
        ok = d["obs"] <= WARP_TOL["obs"] and max(d["reward"], d["info"]) <= WARP_TOL["reward"]
        failed += not ok
        print(f"| {name} | {d['obs']:.1e} | {d['reward']:.1e} | {d['info']:.1e} | {'yes' if ok else 'no'} |", flush=True)
    print(f"\n{len(args.classes) - failed} of {len(args.classes)} classes within the tolerance (device {args.device})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
