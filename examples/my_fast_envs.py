# my_fast_envs.py
import numpy as np
import torch
from gymnasium import spaces

from metarl import AnalyticDynamics, AnalyticEnv, StepResult, analytic_vector_entry, register_family


class ChainWalkDynamics(AnalyticDynamics):
    """ChainWalk for n walkers at once, each with its own goal: state = positions (n, 1)."""

    observation_space = spaces.Box(-np.inf, np.inf, (1,), np.float32)
    action_space = spaces.Box(-0.1, 0.1, (1,), np.float32)

    def initial_state(self, tasks, generator):
        goal = tasks["goal"]  # (n,) tensor on the batch's device
        return torch.zeros(goal.shape[0], 1, dtype=torch.float32, device=goal.device)

    def step(self, state, action, tasks, generator):
        x = state + action.clamp(-0.1, 0.1)
        reward = -(x[:, 0] - tasks["goal"]).abs()
        return StepResult(x, reward, torch.zeros_like(reward, dtype=torch.bool))

    def observe(self, state, tasks):
        return state.clone()  # the goal stays hidden


class FastChainWalkEnv(AnalyticEnv):
    """The single env: the batched dynamics with a batch of one."""

    task_space = spaces.Dict({"goal": spaces.Box(-1.0, 1.0, (), np.float32)})

    def __init__(self, task=None):
        super().__init__(ChainWalkDynamics(), task)

    def _sample_task_batch(self, rng, n, distribution):
        return {"goal": rng.uniform(-1.0, 1.0, n).astype(np.float32)}


register_family("mine/FastChainWalk-v0", FastChainWalkEnv, max_episode_steps=50,
                vector_entry_point=analytic_vector_entry(FastChainWalkEnv))
