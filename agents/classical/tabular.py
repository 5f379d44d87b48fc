"""Model-based agents for tabular MDPs (``TabularMDP-v0``): the conjugate posterior over MDPs
(``TabularPrior``, transition and reward counts in ``ModelState``), finite-horizon planning, and
PSRL (a posterior sample per episode) and the posterior-mean agents (greedy, epsilon-greedy,
BEB's bonus)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from metarl.agents.classical.sampling import check_positive, random_argmax, sample_gamma
from torch import Tensor

from metarl.common.protocol import Transition


@dataclass(frozen=True)
class TabularPrior:
    """Conjugate prior of a tabular MDP; the defaults are ``TabularMDP-v0``'s task distribution.

    Transitions ``P[s, a]`` ~ Dirichlet(``transition_alpha``, ..., ``transition_alpha``); mean
    rewards ~ N(``reward_mean``, ``reward_std``^2); each reward ~ N(mean, ``noise_std``^2) with
    ``noise_std`` known. With these defaults the posterior is the exact Bayesian posterior.
    """

    transition_alpha: float = 1.0
    reward_mean: float = 1.0
    reward_std: float = 1.0
    noise_std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("transition_alpha", "reward_std", "noise_std"):
            check_positive(name, getattr(self, name))


@dataclass(frozen=True)
class ModelState:
    """Per-task experience of a tabular agent and its plan for the current episode.

    ``transitions`` ``(n, S, A, S)``: transition counts; ``visits`` and ``reward_sum``
    ``(n, S, A)``; ``step`` ``(n,)`` int64: steps taken in the current episode; ``q`` ``(n, H, S,
    A)``: the Q-values of the MDP planned with at the start of the episode, per step.
    """

    transitions: Tensor
    visits: Tensor
    reward_sum: Tensor
    step: Tensor
    q: Tensor


def plan(transitions: Tensor, rewards: Tensor, horizon: int) -> Tensor:
    """Finite-horizon value iteration for a batch of MDPs: ``(n, H, S, A)`` Q-values, where
    ``Q[h]`` is for ``h`` steps taken; ``transitions`` ``(n, S, A, S)``, ``rewards`` ``(n, S, A)``."""
    value = torch.zeros(rewards.shape[:2], dtype=rewards.dtype, device=rewards.device)
    q = []
    for _ in range(horizon):
        step_q = rewards + torch.einsum("nsat,nt->nsa", transitions, value)
        value = step_q.max(dim=-1).values
        q.append(step_q)
    return torch.stack(q[::-1], dim=1)


class TabularModelAgent:
    """Shared part of the model-based tabular agents: counts in, a plan per episode, greedy steps.

    At the start of each episode (``begin_task``, ``end_episode``) the subclass's ``model``
    turns the counts into an MDP (a posterior sample, the posterior mean, ...), which is solved by
    finite-horizon value iteration over ``horizon`` steps; the episode then follows that plan
    (ties at random). Observations are one-hot states (``TabularMDP-v0``).
    """

    name = "tabular-model"

    def __init__(
        self,
        num_states: int,
        num_actions: int,
        horizon: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        prior: TabularPrior = TabularPrior(),
    ) -> None:
        for key, value in (("num_states", num_states), ("num_actions", num_actions), ("horizon", horizon)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{key} must be a positive integer, got {value!r}")
        self.num_states, self.num_actions, self.horizon = num_states, num_actions, horizon
        self.prior = prior
        self.device = torch.device(device)
        self.generator = torch.Generator(self.device).manual_seed(int(seed))

    def model(self, state: ModelState) -> tuple[Tensor, Tensor]:
        """The MDP to plan with: transitions ``(n, S, A, S)`` and rewards ``(n, S, A)``."""
        raise NotImplementedError

    def posterior_reward(self, state: ModelState) -> tuple[Tensor, Tensor]:
        """Posterior mean and standard deviation of each mean reward, ``(n, S, A)`` each."""
        prior = self.prior
        precision = prior.reward_std**-2 + state.visits / prior.noise_std**2
        mean = (prior.reward_mean * prior.reward_std**-2 + state.reward_sum / prior.noise_std**2) / precision
        return mean, precision.rsqrt()

    def begin_task(self, n_tasks: int) -> ModelState:
        """No experience yet; the first episode's plan comes from the prior."""
        s, a = self.num_states, self.num_actions
        zeros = torch.zeros(n_tasks, s, a, dtype=torch.float64, device=self.device)
        transitions = torch.zeros(n_tasks, s, a, s, dtype=torch.float64, device=self.device)
        step = torch.zeros(n_tasks, dtype=torch.int64, device=self.device)
        empty = ModelState(transitions, zeros, zeros.clone(), step, torch.empty(0))
        return self._replan(empty)

    def act(self, obs: Tensor, state: ModelState, deterministic: bool) -> tuple[Tensor, ModelState]:
        """The plan's action for each task's state and step; ``deterministic`` is ignored."""
        rows = torch.arange(obs.shape[0], device=self.device)
        s = obs.to(self.device).argmax(dim=-1)
        q = state.q[rows, state.step.clamp(max=self.horizon - 1), s]
        return random_argmax(q, self.generator), state

    def observe(self, state: ModelState, transition: Transition) -> ModelState:
        """Count the transition and reward of every valid row; advance its step."""
        valid = transition.valid.to(self.device)
        rows = torch.arange(valid.shape[0], device=self.device)[valid]
        s = transition.obs.to(self.device).argmax(dim=-1)[valid]
        a = transition.action.to(self.device).long()[valid]
        s_next = transition.next_obs.to(self.device).argmax(dim=-1)[valid]
        reward = transition.reward.to(self.device, torch.float64)[valid]
        transitions = state.transitions.index_put((rows, s, a, s_next), torch.ones_like(reward), accumulate=True)
        visits = state.visits.index_put((rows, s, a), torch.ones_like(reward), accumulate=True)
        reward_sum = state.reward_sum.index_put((rows, s, a), reward, accumulate=True)
        return ModelState(transitions, visits, reward_sum, state.step + valid.long(), state.q)

    def end_episode(self, state: ModelState) -> ModelState:
        """Plan the next episode from everything seen so far."""
        return self._replan(state)

    def _replan(self, state: ModelState) -> ModelState:
        transitions, rewards = self.model(state)
        q = plan(transitions, rewards, self.horizon)
        return ModelState(state.transitions, state.visits, state.reward_sum, torch.zeros_like(state.step), q)


class PSRLAgent(TabularModelAgent):
    """Posterior sampling for RL (Strens 2000; Osband, Russo & Van Roy 2013).

    At the start of every episode, one MDP is drawn from the posterior (Dirichlet transitions,
    Gaussian mean rewards with known noise; ``TabularPrior``, by default the task distribution of
    ``TabularMDP-v0``, so the posterior is exact), solved by finite-horizon value iteration, and
    followed greedily for the whole episode.
    """

    name = "psrl"

    def model(self, state: ModelState) -> tuple[Tensor, Tensor]:
        """One posterior sample per task."""
        gamma = sample_gamma(self.prior.transition_alpha + state.transitions, self.generator)
        transitions = gamma / gamma.sum(dim=-1, keepdim=True)
        mean, std = self.posterior_reward(state)
        noise = torch.randn(mean.shape, generator=self.generator, dtype=mean.dtype, device=mean.device)
        return transitions, mean + std * noise


class MeanModelAgent(TabularModelAgent):
    """Certainty equivalence on the posterior mean MDP: greedy, epsilon-greedy and BEB.

    Plans each episode on the posterior mean (``TabularPrior``; unvisited pairs keep the prior
    mean: uniform transitions, reward ``reward_mean``). ``bonus > 0`` adds BEB's exploration
    bonus ``bonus / (1 + visits[s, a])`` to the rewards (Bayesian Exploration Bonus, Kolter & Ng
    2009). ``epsilon > 0`` takes a uniformly random action with probability ``epsilon`` per step.
    """

    def __init__(
        self,
        num_states: int,
        num_actions: int,
        horizon: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        prior: TabularPrior = TabularPrior(),
        epsilon: float = 0.0,
        bonus: float = 0.0,
    ) -> None:
        super().__init__(num_states, num_actions, horizon, seed, device, prior=prior)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        if not bonus >= 0.0:
            raise ValueError(f"bonus must be >= 0, got {bonus!r}")
        self.epsilon, self.bonus = epsilon, bonus
        base = f"beb({bonus:g})" if bonus > 0 else "greedy"
        self.name = base if epsilon == 0 else f"epsilon-{base}({epsilon:g})"

    def model(self, state: ModelState) -> tuple[Tensor, Tensor]:
        """The posterior mean MDP, with BEB's bonus on the rewards."""
        counts = self.prior.transition_alpha + state.transitions
        mean, _ = self.posterior_reward(state)
        return counts / counts.sum(dim=-1, keepdim=True), mean + self.bonus / (1.0 + state.visits)

    def act(self, obs: Tensor, state: ModelState, deterministic: bool) -> tuple[Tensor, ModelState]:
        """The plan's action, or with probability ``epsilon`` a uniformly random one."""
        action, state = super().act(obs, state, deterministic)
        if self.epsilon > 0:
            n = action.shape[0]
            explore = torch.rand(n, generator=self.generator, device=self.device) < self.epsilon
            uniform = torch.randint(self.num_actions, (n,), generator=self.generator, device=self.device)
            action = torch.where(explore, uniform, action)
        return action, state

