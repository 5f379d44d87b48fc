# my_envs.py
import numpy as np
from gymnasium import spaces

from metarl import MetaEnv, register_family


class ChainWalkEnv(MetaEnv):
    """Walk along a line toward a hidden goal; reward = -|x - goal|."""

    task_space = spaces.Dict({"goal": spaces.Box(-1.0, 1.0, (), np.float32)})
    observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = spaces.Box(-0.1, 0.1, (1,), np.float32)

    def __init__(self, task=None):
        self.x = 0.0
        self._init_task(task)  # validates the task space; default task: first training task

    def _sample_task_batch(self, rng, n, distribution):
        return {"goal": rng.uniform(-1.0, 1.0, n).astype(np.float32)}

    def _apply_task(self, task):
        self.goal = float(task["goal"])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._reset_task_option(options)  # reset(options={"task": ...})
        self.x = 0.0
        return np.array([self.x], np.float32), {}

    def step(self, action):
        self.x += float(np.clip(action[0], -0.1, 0.1))
        return np.array([self.x], np.float32), -abs(self.x - self.goal), False, False, {}


register_family("mine/ChainWalk-v0", ChainWalkEnv, max_episode_steps=50)
