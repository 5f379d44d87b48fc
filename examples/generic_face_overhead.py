"""Steps/s of the generic batched face (N copies of a single env) against the native one.

    python examples/generic_face_overhead.py [--num-envs 16 256] [--steps 200]

On metarl/PointRobot-v0: the native face (``AnalyticVectorEnv``: the batched torch dynamics) and
the generic face built directly over the same single env class (``GenericVectorEnv(PointRobotEnv)``,
in-process and with 2 worker processes), with gymnasium's ``SyncVectorEnv`` over the single env
for reference. The README's table ("the slow-but-universal path") comes from this script.
"""

import argparse

import gymnasium as gym
import torch
from metarl.envs.point import PointRobotEnv

from metarl.core.generic_vector import GenericVectorEnv
from metarl.core.vector import AnalyticVectorEnv
from metarl.report.bench import random_actions, timed_rate


def rate(env: gym.vector.VectorEnv, steps: int, tensors: bool = True) -> float:
    """Env steps per second of ``env`` under pre-drawn random actions."""
    actions = random_actions(env.action_space, 16)
    if tensors:
        actions = [torch.as_tensor(a) for a in actions]
    env.reset(seed=0)
    counter = iter(range(1 << 62))
    out = timed_rate(lambda: env.step(actions[next(counter) % 16]), env.num_envs, steps, 10.0, lambda: None)
    env.close()
    return out


def main(sizes: list[int], steps: int) -> None:
    torch.set_num_threads(1)
    print("| implementation | num_envs | steps/s | native / this |\n|---|---|---|---|")
    for n in sizes:
        rows = {
            "native (AnalyticVectorEnv)": rate(AnalyticVectorEnv(PointRobotEnv, n, max_episode_steps=20), steps),
            "generic, in-process": rate(GenericVectorEnv(PointRobotEnv, n, max_episode_steps=20), steps),
            "generic, workers=2": rate(GenericVectorEnv(PointRobotEnv, n, max_episode_steps=20, workers=2), steps),
            "gymnasium SyncVectorEnv": rate(gym.make_vec("metarl/PointRobot-v0", n, vectorization_mode="sync"),
                                            steps, tensors=False),
        }  # fmt: skip
        native = rows["native (AnalyticVectorEnv)"]
        for name, value in rows.items():
            print(f"| {name} | {n} | {value:,.0f} | {native / value:,.1f}x |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, nargs="+", default=[16, 256])
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args()
    main(args.num_envs, args.steps)
