"""The bandit agents' adaptation interface and state: per-task arm statistics (``ArmStats``) and
the shared ``BanditAgent`` (pull the highest-scoring arm, count pulls and rewards), plus the
Bernoulli counts read from them by the Gittins and Bayes-optimal agents."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from metarl.agents.classical.sampling import random_argmax
from torch import Tensor

from metarl.common.protocol import Transition


@dataclass(frozen=True)
class ArmStats:
    """Per-task arm statistics, the adaptation state of the bandit agents.

    ``pulls`` and ``reward_sum`` are ``(n, k)`` float64: how often each arm was pulled in the
    trial so far and the sum of its rewards (for Bernoulli arms, its number of successes).
    """

    pulls: Tensor
    reward_sum: Tensor

    @property
    def total_pulls(self) -> Tensor:
        """``(n,)`` pulls so far in each task's trial."""
        return self.pulls.sum(dim=-1)


class BanditAgent:
    """Shared part of the bandit agents: arm statistics in, an arm per task out.

    Subclasses define ``scores(stats)``, an ``(n, k)`` tensor; ``act`` pulls the highest-scoring
    arm of each task (ties at random). Observations carry no information (a constant 0) and are
    only used for the batch size.
    """

    name = "bandit"

    def __init__(self, num_arms: int, seed: int = 0, device: str | torch.device = "cpu") -> None:
        if not isinstance(num_arms, int) or num_arms < 2:
            raise ValueError(f"num_arms must be an integer >= 2, got {num_arms!r}")
        self.num_arms = num_arms
        self.device = torch.device(device)
        self.generator = torch.Generator(self.device).manual_seed(int(seed))

    def begin_task(self, n_tasks: int) -> ArmStats:
        """No pulls yet in any of the ``n_tasks`` trials."""
        zeros = torch.zeros(n_tasks, self.num_arms, dtype=torch.float64, device=self.device)
        return ArmStats(zeros, zeros.clone())

    def scores(self, stats: ArmStats) -> Tensor:
        """``(n, k)`` arm scores; the arm with the highest score is pulled."""
        raise NotImplementedError

    def act(self, obs: Tensor, state: ArmStats, deterministic: bool) -> tuple[Tensor, ArmStats]:
        """An arm per task (int64 ``(n,)``); ``deterministic`` is ignored (see ``metarl.agents.classical``)."""
        if obs.shape[0] != state.pulls.shape[0]:
            raise ValueError(f"got {obs.shape[0]} observations for a state of {state.pulls.shape[0]} tasks")
        return random_argmax(self.scores(state), self.generator), state

    def observe(self, state: ArmStats, transition: Transition) -> ArmStats:
        """Count the pull and its reward in every valid row."""
        valid = transition.valid.to(self.device)
        pulled = torch.nn.functional.one_hot(transition.action.to(self.device).long(), self.num_arms)
        pulled = pulled.to(torch.float64) * valid.unsqueeze(-1)
        reward = torch.where(valid, transition.reward.to(self.device, torch.float64), 0.0)
        return ArmStats(state.pulls + pulled, state.reward_sum + pulled * reward.unsqueeze(-1))

    def end_episode(self, state: ArmStats) -> ArmStats:
        """Nothing to do: an episode is one pull, the statistics already hold it."""
        return state


# ----- Bernoulli arms: posterior counts ---------------------------------------------------------
def count_code(successes: Tensor, failures: Tensor) -> Tensor:
    """Index of the posterior-count state ``(s, f)`` in the enumeration by ``t = s + f``, then ``s``:
    ``t (t + 1) / 2 + s``; codes below ``(T + 1)(T + 2) / 2`` are the states with ``t <= T``."""
    t = successes + failures
    return t * (t + 1) // 2 + successes


def bernoulli_counts(stats: ArmStats) -> tuple[Tensor, Tensor]:
    """Successes and failures per arm (int64), from 0/1 rewards."""
    successes = stats.reward_sum.round().long()
    return successes, stats.pulls.long() - successes

