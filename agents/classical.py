"""Classical reference agents for the RL^2 families, driven through the adaptation interface.

The rows of the RL^2 paper's tables (Duan et al., 2016, tables 1 and 2) that are not learned:

- bandits (``metarl/BernoulliBandit-v0``, ``metarl/GaussianBandit-v0``; one episode is one pull,
  so the adaptation state carries the arm statistics across the episodes of a trial):
  ``ThompsonSamplingAgent``, ``UCB1Agent``, ``GreedyAgent`` (greedy and epsilon-greedy on the
  empirical or the posterior mean), and for Bernoulli arms with a known horizon
  ``GittinsIndexAgent`` (the finite-horizon Gittins index) and ``BayesOptimalBernoulliAgent``
  (exact dynamic programming over posterior counts, for horizons whose belief space is small
  enough, e.g. 10 pulls);
- tabular MDPs (``metarl/TabularMDP-v0``): ``PSRLAgent`` (posterior sampling), ``MeanModelAgent``
  (greedy / epsilon-greedy certainty equivalence and BEB's exploration bonus), and
  ``metarl.common.protocol.RandomAgent``.

Every agent is batched over the ``n`` tasks of an evaluation with torch tensors (no loop over
tasks), keeps per-row state and leaves rows whose ``Transition.valid`` is False unchanged.
Randomness (posterior samples, epsilon-exploration, tie-breaking) is part of these algorithms, so
``deterministic`` is ignored: the agents stay stochastic, drawing from their own generator seeded
by ``seed``.

``metarl train configs/classical/<x>.yaml`` runs them like the learned agents: their trainer
(``NoLearningTrainer``) has nothing to learn, so the run directory holds the config, a checkpoint
and the adaptation-curve evaluation.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import torch
from metarl.envs.bandits import BernoulliBanditEnv, GaussianBanditEnv
from metarl.envs.tabular_mdp import TabularMDPEnv
from torch import Tensor

from metarl.common.checks import check
from metarl.common.config import RunConfig
from metarl.common.protocol import Agent, RandomAgent, Transition

BanditKind = Literal["bernoulli", "gaussian"]
BANDIT_KINDS: tuple[str, ...] = ("bernoulli", "gaussian")


# ----- sampling helpers --------------------------------------------------------------------------
def sample_gamma(alpha: Tensor, generator: torch.Generator) -> Tensor:
    """Gamma(``alpha``, 1) draws shaped like ``alpha`` from ``generator``'s stream.

    Marsaglia & Tsang (2000) rejection sampling, vectorized: every element draws until accepted
    (acceptance is above 95% per round for ``alpha >= 1``). ``alpha < 1`` uses the boost
    ``Gamma(alpha) = Gamma(alpha + 1) * U^(1/alpha)``. Written here because torch's own Gamma
    sampler takes no generator, and the agents must be reproducible from their seed.
    """
    if not bool((alpha > 0).all()):
        raise ValueError(f"Gamma shape parameters must be > 0, got a minimum of {float(alpha.min())}")
    flat = alpha.reshape(-1)
    boosted = torch.where(flat < 1, flat + 1, flat)
    d = boosted - 1.0 / 3.0
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.empty_like(flat)
    todo = torch.arange(flat.numel(), device=flat.device)
    while todo.numel():
        dd, cc = d[todo], c[todo]
        x = torch.randn(dd.shape, generator=generator, dtype=dd.dtype, device=dd.device)
        v = (1.0 + cc * x) ** 3
        u = torch.rand(dd.shape, generator=generator, dtype=dd.dtype, device=dd.device)
        accept = (v > 0) & (torch.log(u) < 0.5 * x * x + dd - dd * v + dd * torch.log(v.clamp_min(1e-300)))
        out[todo[accept]] = (dd * v)[accept]
        todo = todo[~accept]
    small = flat < 1
    if bool(small.any()):
        u = torch.rand(flat.shape, generator=generator, dtype=flat.dtype, device=flat.device)
        out = torch.where(small, out * u.pow(1.0 / flat), out)
    return out.reshape(alpha.shape)


def sample_beta(a: Tensor, b: Tensor, generator: torch.Generator) -> Tensor:
    """Beta(``a``, ``b``) draws, elementwise: ``X / (X + Y)`` with ``X ~ Gamma(a)``, ``Y ~ Gamma(b)``."""
    x = sample_gamma(a, generator)
    y = sample_gamma(b, generator)
    return x / (x + y)


def random_argmax(values: Tensor, generator: torch.Generator) -> Tensor:
    """Index of the largest value along the last dim, ties broken uniformly at random (int64).

    Random tie-breaking matters here: untried arms all have the same score, and always taking the
    first one would make the agents' exploration depend on arm order.
    """
    best = values.max(dim=-1, keepdim=True).values
    noise = torch.rand(values.shape, generator=generator, dtype=torch.float32, device=values.device)
    return torch.where(values >= best, noise, torch.full_like(noise, -1.0)).argmax(dim=-1)


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")


# ----- bandits -----------------------------------------------------------------------------------
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
        """An arm per task (int64 ``(n,)``); ``deterministic`` is ignored (see the module docstring)."""
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


class ThompsonSamplingAgent(BanditAgent):
    """Thompson sampling (Thompson, 1933): pull the arm whose posterior sample is largest.

    ``kind="bernoulli"``: arm means have independent Beta(``prior_alpha``, ``prior_beta``)
    priors (default Beta(1, 1), the uniform distribution ``BernoulliBandit-v0`` draws them from);
    the posterior of an arm with ``s`` successes in ``m`` pulls is Beta(alpha + s, beta + m - s).
    ``kind="gaussian"``: arm means have N(``prior_mean``, ``prior_std``^2) priors (default N(0, 1),
    as ``GaussianBandit-v0``) and rewards known noise ``reward_std``; the posterior is Gaussian
    with precision ``1/prior_std^2 + m/reward_std^2``.
    """

    name = "thompson"

    def __init__(
        self,
        num_arms: int,
        kind: BanditKind,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        prior_mean: float = 0.0,
        prior_std: float = 1.0,
        reward_std: float = 1.0,
    ) -> None:
        super().__init__(num_arms, seed, device)
        if kind not in BANDIT_KINDS:
            raise ValueError(f"kind must be one of {BANDIT_KINDS}, got {kind!r}")
        for name, value in (("prior_alpha", prior_alpha), ("prior_beta", prior_beta), ("prior_std", prior_std),
                            ("reward_std", reward_std)):  # fmt: skip
            _check_positive(name, value)
        self.kind = kind
        self.prior_alpha, self.prior_beta = prior_alpha, prior_beta
        self.prior_mean, self.prior_std, self.reward_std = prior_mean, prior_std, reward_std

    def scores(self, stats: ArmStats) -> Tensor:
        """One posterior sample of each arm's mean."""
        if self.kind == "bernoulli":
            a = self.prior_alpha + stats.reward_sum
            b = self.prior_beta + stats.pulls - stats.reward_sum
            return sample_beta(a, b, self.generator)
        precision = self.prior_std**-2 + stats.pulls / self.reward_std**2
        mean = (self.prior_mean * self.prior_std**-2 + stats.reward_sum / self.reward_std**2) / precision
        noise = torch.randn(mean.shape, generator=self.generator, dtype=mean.dtype, device=mean.device)
        return mean + noise / precision.sqrt()


class UCB1Agent(BanditAgent):
    """UCB1 (Auer, Cesa-Bianchi & Fischer, 2002): pull each arm once, then the arm maximising
    ``mean_j + sqrt(c * ln(t) / pulls_j)``, ``t`` the pulls so far; Auer et al.'s UCB1 is ``c = 2``.
    """

    name = "ucb1"

    def __init__(self, num_arms: int, seed: int = 0, device: str | torch.device = "cpu", *, c: float = 2.0) -> None:
        super().__init__(num_arms, seed, device)
        _check_positive("c", c)
        self.c = c

    def scores(self, stats: ArmStats) -> Tensor:
        """Upper confidence bounds; ``inf`` for arms not pulled yet, so they are pulled first."""
        t = stats.total_pulls.clamp_min(1).unsqueeze(-1)
        pulls = stats.pulls.clamp_min(1)
        bound = stats.reward_sum / pulls + torch.sqrt(self.c * torch.log(t) / pulls)
        return torch.where(stats.pulls > 0, bound, torch.inf)


class GreedyAgent(BanditAgent):
    """Greedy on each arm's mean-reward estimate, with epsilon-exploration when ``epsilon > 0``.

    The estimate is ``(reward_sum + prior_pulls * prior_mean) / (pulls + prior_pulls)``. With the
    default ``prior_pulls = 0`` it is the empirical mean, and arms not pulled yet count as best,
    so every arm is pulled once first. ``prior_pulls > 0`` gives the posterior mean of a
    conjugate prior instead (Bernoulli arms, Beta(1, 1): ``prior_pulls=2, prior_mean=0.5``;
    Gaussian arms, N(0, 1) with unit noise: ``prior_pulls=1, prior_mean=0``), and unpulled arms
    are valued at ``prior_mean``. The arm with the highest estimate is pulled (ties at random),
    except that with probability ``epsilon`` an arm is drawn uniformly at random instead.
    """

    def __init__(
        self,
        num_arms: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        epsilon: float = 0.0,
        prior_mean: float = 0.0,
        prior_pulls: float = 0.0,
    ) -> None:
        super().__init__(num_arms, seed, device)
        if not 0.0 <= epsilon <= 1.0:
            raise ValueError(f"epsilon must be in [0, 1], got {epsilon!r}")
        if not prior_pulls >= 0.0:
            raise ValueError(f"prior_pulls must be >= 0, got {prior_pulls!r}")
        self.epsilon, self.prior_mean, self.prior_pulls = epsilon, prior_mean, prior_pulls
        base = "greedy" if prior_pulls == 0 else "greedy-posterior"
        self.name = base if epsilon == 0 else f"epsilon-{base}({epsilon:g})"

    def scores(self, stats: ArmStats) -> Tensor:
        """Mean-reward estimates (``inf`` for never-pulled arms without a prior), replaced by noise
        in the rows that explore."""
        pulls = stats.pulls + self.prior_pulls
        estimate = (stats.reward_sum + self.prior_pulls * self.prior_mean) / pulls.clamp_min(1e-300)
        estimate = torch.where(pulls > 0, estimate, torch.inf)
        if self.epsilon == 0:
            return estimate
        explore = torch.rand(estimate.shape[:1], generator=self.generator, device=estimate.device) < self.epsilon
        noise = torch.rand(estimate.shape, generator=self.generator, dtype=estimate.dtype, device=estimate.device)
        return torch.where(explore.unsqueeze(-1), noise, estimate)


# ----- Bernoulli bandits with a known horizon: counts, Gittins index, Bayes-optimal DP -----------
def count_code(successes: Tensor, failures: Tensor) -> Tensor:
    """Index of the posterior-count state ``(s, f)`` in the enumeration by ``t = s + f``, then ``s``:
    ``t (t + 1) / 2 + s``; codes below ``(T + 1)(T + 2) / 2`` are the states with ``t <= T``."""
    t = successes + failures
    return t * (t + 1) // 2 + successes


def _bernoulli_counts(stats: ArmStats) -> tuple[Tensor, Tensor]:
    """Successes and failures per arm (int64), from 0/1 rewards."""
    successes = stats.reward_sum.round().long()
    return successes, stats.pulls.long() - successes


@functools.lru_cache(maxsize=4)
def finite_horizon_gittins_table(horizon: int, grid: int = 128) -> Tensor:
    """Finite-horizon Gittins indices of a Bernoulli arm with a Beta(1, 1) prior, all states.

    The index of an arm with ``s`` successes, ``f`` failures and ``m`` pulls left is the
    per-pull reward ``lam`` of a known arm that makes pulling the unknown arm now (with the
    option to switch to the known arm for good at any later pull) exactly as good as taking the
    known arm for all ``m`` pulls (calibration; Gittins 1979, finite-horizon form as in Kaufmann
    2016, "On Bayesian index policies for sequential resource allocation"). For ``m = 1`` it is
    the posterior mean ``(s + 1) / (s + f + 2)``.

    Computed by dynamic programming on a grid of ``grid`` values of ``lam`` in ``[0, 1]`` at once
    (the recursion over ``m`` serves every state), then, per state, the root of the continuation
    advantage from the two grid points around it: the continuation value is convex and piecewise
    linear in ``lam`` and its slope (the expected number of known-arm pulls) is tracked, so the
    root is where the tangents at both grid points cross zero, the larger of the two. With
    ``grid=128`` every index of horizon 20 is within 2e-4 of bisection to machine precision.
    Cost ``~ grid * horizon^3 / 3`` operations: 1 CPU second for horizon 100, 93 for 500; the
    table has ``~ horizon^3 / 6`` float64 entries (21M, 168 MB, for 500).

    Layout: block ``m - 1`` (``m = 1 .. horizon``) holds the states with ``s + f <= horizon - m``
    in ``count_code`` order; ``gittins_offsets(horizon)`` gives the blocks' starts.
    """
    if not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be an integer >= 1, got {horizon!r}")
    if not isinstance(grid, int) or grid < 2:
        raise ValueError(f"grid must be an integer >= 2, got {grid!r}")
    lams = torch.linspace(0.0, 1.0, grid, dtype=torch.float64)
    offsets = gittins_offsets(horizon)
    table = torch.zeros(int(offsets[-1]), dtype=torch.float64)
    # Chunks of the lambda grid bound the memory (chunk x horizon^2 values); the chunks overlap by
    # one point so that every grid interval has both its ends in one chunk.
    chunk = 16
    for start in range(0, grid - 1, chunk - 1):
        lam = lams[start : start + chunk]
        _gittins_chunk(horizon, lam, offsets, table)
    return table


def gittins_offsets(horizon: int) -> Tensor:
    """Start of each remaining-pulls block of ``finite_horizon_gittins_table`` (``horizon + 1``
    values, the last one the table's size)."""
    sizes = torch.tensor([(horizon - m + 1) * (horizon - m + 2) // 2 for m in range(1, horizon + 1)])
    return torch.cat([torch.zeros(1, dtype=torch.int64), sizes.cumsum(0)])


def _gittins_chunk(horizon: int, lam: Tensor, offsets: Tensor, table: Tensor) -> None:
    """Calibration DP for the lambdas ``lam`` (ascending); writes, for every state whose index lies
    in ``[lam[0], lam[-1]]``, its root estimate into ``table``."""
    n_lam = lam.numel()
    lam3 = lam.view(-1, 1, 1)
    value = torch.zeros(n_lam, horizon + 1, horizon + 1, dtype=torch.float64)  # W_{m-1}[lam, s, f]
    slope = torch.zeros_like(value)  # dW/dlam: expected known-arm pulls under the optimal policy
    for m in range(1, horizon + 1):
        size = horizon - m + 1  # states with s, f in [0, horizon - m]
        s = torch.arange(size, dtype=torch.float64).view(-1, 1)
        f = torch.arange(size, dtype=torch.float64).view(1, -1)
        p = (s + 1) / (s + f + 2)
        cont = p * (1 + value[:, 1 : size + 1, :size]) + (1 - p) * value[:, :size, 1 : size + 1]
        cont_slope = p * slope[:, 1 : size + 1, :size] + (1 - p) * slope[:, :size, 1 : size + 1]
        retire = m * lam3
        keep = cont > retire  # True exactly for lam below the state's index
        value = torch.where(keep, cont, retire)
        slope = torch.where(keep, cont_slope, torch.full_like(cont_slope, float(m)))
        below = keep.sum(0) - 1  # last grid lambda below the index; -1: index below lam[0]
        inside = (below >= 0) & (below < n_lam - 1)
        lo = below.clamp(0, n_lam - 2)
        hi = lo + 1
        roots = (_tangent_root(cont, cont_slope, lam, m, j) for j in (lo, hi))
        index = torch.maximum(*roots).clamp(lam[lo], lam[hi])
        t = s + f
        write = inside & (t <= size - 1)
        codes = count_code(s.long().expand(size, size), f.long().expand(size, size))
        block = table[int(offsets[m - 1]) : int(offsets[m])]
        block[codes[write]] = index[write]


def _tangent_root(cont: Tensor, cont_slope: Tensor, lam: Tensor, m: int, j: Tensor) -> Tensor:
    """Per state, the zero of the tangent at ``lam[j]`` of the continuation advantage
    ``cont - m * lam`` (``cont``, ``cont_slope``: ``(n_lam, ...)``; ``j``: grid index per state)."""
    c = cont.gather(0, j.unsqueeze(0))[0]
    d = cont_slope.gather(0, j.unsqueeze(0))[0]
    return lam[j] + (c - m * lam[j]) / (m - d)


class GittinsIndexAgent(BanditAgent):
    """Bernoulli arms, known horizon: pull the arm with the largest finite-horizon Gittins index.

    ``horizon`` is the number of pulls in the trial; with ``m`` pulls left, each arm's index is
    looked up for its posterior counts (Beta(1, 1) prior) and ``m`` in a table computed once per
    horizon (``finite_horizon_gittins_table``, cached). Close to Bayes-optimal in practice and
    computable for long horizons where ``BayesOptimalBernoulliAgent`` is not. Past the horizon it
    acts as with one pull left (the posterior mean, i.e. myopically).
    """

    name = "gittins"

    def __init__(
        self, num_arms: int, horizon: int, seed: int = 0, device: str | torch.device = "cpu", *, grid: int = 128
    ) -> None:
        super().__init__(num_arms, seed, device)
        self.horizon = horizon
        self.table = finite_horizon_gittins_table(horizon, grid).to(self.device)
        self.offsets = gittins_offsets(horizon).to(self.device)

    def scores(self, stats: ArmStats) -> Tensor:
        """Each arm's index for its counts and the pulls left in the trial."""
        successes, failures = _bernoulli_counts(stats)
        left = (self.horizon - stats.total_pulls.long()).clamp(min=1).unsqueeze(-1)
        # Past the horizon the counts can exceed the table's; they are then read as with one pull
        # left, where the index is the posterior mean (computed directly below).
        posterior_mean = (successes + 1).double() / (successes + failures + 2).double()
        in_table = (successes + failures) <= self.horizon - left
        code = torch.where(in_table, count_code(successes, failures), 0)
        looked_up = self.table[self.offsets[left - 1] + code]
        return torch.where(in_table & (left > 1), looked_up, posterior_mean)


#: Belief states of ``BayesOptimalBernoulliAgent``'s DP above which it refuses (use Gittins).
MAX_BELIEF_STATES = 1_000_000
# Seed of the random keys that hash a multiset of arm states (fixed: tables are deterministic).
_HASH_SEED = 20161108
# Keys below 2**56, so a sum over up to 128 arms stays below 2**63 and never overflows int64.
_HASH_BITS = 56

BeliefState = tuple[tuple[int, int], ...]  # sorted (successes, failures) of the arms pulled so far


@dataclass(frozen=True)
class BeliefTable:
    """Bayes-optimal values of the belief states of a ``num_arms``-armed Bernoulli bandit trial.

    ``hashes`` (sorted, int64) and ``values`` (float64) hold, for every belief state reachable
    with fewer than ``horizon`` pulls, its multiset hash (the sum of ``keys[count_code(s, f)]``
    over all arms, unpulled ones included) and its optimal expected reward-to-go.
    ``expected_return`` is the value of the empty belief: the Bayes-optimal expected total reward.
    """

    num_arms: int
    horizon: int
    keys: Tensor
    hashes: Tensor
    values: Tensor
    expected_return: float


def _children(state: BeliefState, num_arms: int) -> list[tuple[float, BeliefState, BeliefState]]:
    """For each distinct arm class (an unpulled arm, or arms with equal counts): the posterior
    success probability and the belief after a success and after a failure."""
    options = []
    classes = sorted(set(state)) + ([(0, 0)] if len(state) < num_arms else [])
    for s, f in classes:
        rest = list(state)
        if (s, f) != (0, 0):
            rest.remove((s, f))
        success = tuple(sorted([*rest, (s + 1, f)]))
        failure = tuple(sorted([*rest, (s, f + 1)]))
        options.append(((s + 1) / (s + f + 2), success, failure))
    return options


@functools.lru_cache(maxsize=4)
def bayes_optimal_table(num_arms: int, horizon: int, max_states: int = MAX_BELIEF_STATES) -> BeliefTable:
    """Exact dynamic programming over the belief states of a Bernoulli bandit trial of ``horizon``
    pulls with independent Beta(1, 1) priors.

    A belief is the multiset of the arms' posterior counts ``(successes, failures)``: arms are
    exchangeable, so the order does not matter, and arms not pulled yet are left out. Beliefs
    are enumerated level by level (level = pulls so far), then valued backwards:
    ``V(b) = max over arms of p (1 + V(b + success)) + (1 - p) V(b + failure)``, ``V = 0`` at the
    horizon. Raises ``ValueError`` past ``max_states`` beliefs (e.g. 10 pulls: 1,951 beliefs for
    5 arms, 2,296 for 10 or more; 20 pulls and 5 arms: 238k; 100 pulls: far too many, use
    ``GittinsIndexAgent``).
    """
    for name, value, low in (("num_arms", num_arms, 2), ("horizon", horizon, 1)):
        if not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    if num_arms > 2 ** (63 - _HASH_BITS):
        raise ValueError(f"num_arms={num_arms} is too many for the belief hash; allowed: <= {2 ** (63 - _HASH_BITS)}")
    levels: list[set[BeliefState]] = [{()}]
    total = 1
    for _ in range(1, horizon):
        level = {child for state in levels[-1] for _, *kids in _children(state, num_arms) for child in kids}
        total += len(level)
        if total > max_states:
            raise ValueError(
                f"a {num_arms}-armed trial of {horizon} pulls has more than max_states={max_states} belief states; "
                "allowed: a shorter horizon, a larger max_states, or GittinsIndexAgent"
            )
        levels.append(level)
    values: dict[BeliefState, float] = {}
    for depth in range(horizon - 1, -1, -1):
        after = values if depth < horizon - 1 else {}
        for state in levels[depth]:
            values[state] = max(
                p * (1 + after.get(win, 0.0)) + (1 - p) * after.get(loss, 0.0)
                for p, win, loss in _children(state, num_arms)
            )
    codes = (horizon + 1) * (horizon + 2) // 2
    keys = torch.tensor(
        np.random.default_rng(_HASH_SEED).integers(0, 2**_HASH_BITS, size=codes, dtype=np.int64), dtype=torch.int64
    )
    states = list(values)
    hashes = torch.tensor([_belief_hash(state, keys, num_arms) for state in states], dtype=torch.int64)
    order = hashes.argsort()
    hashes = hashes[order]
    if bool((hashes[1:] == hashes[:-1]).any()):
        raise RuntimeError("two belief states share a hash; change _HASH_SEED")
    table_values = torch.tensor([values[state] for state in states], dtype=torch.float64)[order]
    return BeliefTable(num_arms, horizon, keys, hashes, table_values, values[()])


def _belief_hash(state: BeliefState, keys: Tensor, num_arms: int) -> int:
    """The multiset hash of a belief: unpulled arms add ``keys[0]`` each."""
    pulled = sum(int(keys[(s + f) * (s + f + 1) // 2 + s]) for s, f in state)
    return pulled + (num_arms - len(state)) * int(keys[0])


class BayesOptimalBernoulliAgent(BanditAgent):
    """The Bayes-optimal policy of a Bernoulli bandit trial of ``horizon`` pulls, uniform priors.

    Each pull maximises ``p (1 + V(success)) + (1 - p) V(failure)`` over the arms, with ``V`` the
    exact optimal values of the belief states (``bayes_optimal_table``, cached; a ``ValueError``
    when the belief space is larger than ``max_states``). Lookups are vectorized: a belief's hash
    is a sum of per-arm keys, so each arm's two successor beliefs are found by adjusting one term
    and binary search in the sorted table. Past the horizon it acts myopically (posterior mean).
    """

    name = "bayes-optimal"

    def __init__(
        self,
        num_arms: int,
        horizon: int,
        seed: int = 0,
        device: str | torch.device = "cpu",
        *,
        max_states: int = MAX_BELIEF_STATES,
    ) -> None:
        super().__init__(num_arms, seed, device)
        table = bayes_optimal_table(num_arms, horizon, max_states)
        self.horizon = horizon
        self.expected_return = table.expected_return
        self.keys = table.keys.to(self.device)
        self.hashes = table.hashes.to(self.device)
        self.values = table.values.to(self.device)

    def scores(self, stats: ArmStats) -> Tensor:
        """Each arm's expected reward-to-go if pulled now and play is optimal afterwards."""
        successes, failures = _bernoulli_counts(stats)
        last_code = self.keys.numel() - 1
        key = self.keys[count_code(successes, failures).clamp(max=last_code)]
        belief = key.sum(dim=-1, keepdim=True)
        p = (successes + 1).double() / (successes + failures + 2).double()
        win = self._value(belief - key + self.keys[count_code(successes + 1, failures).clamp(max=last_code)])
        loss = self._value(belief - key + self.keys[count_code(successes, failures + 1).clamp(max=last_code)])
        # After the last pull (and past the horizon) nothing is left to gain: myopic values.
        later = (stats.total_pulls + 1 < self.horizon).unsqueeze(-1)
        return p + torch.where(later, p * win + (1 - p) * loss, 0.0)

    def _value(self, hashes: Tensor) -> Tensor:
        """Values of the beliefs with these hashes (0 for hashes not in the table)."""
        at = torch.searchsorted(self.hashes, hashes).clamp(max=self.hashes.numel() - 1)
        return torch.where(self.hashes[at] == hashes, self.values[at], 0.0)


# ----- tabular MDPs ------------------------------------------------------------------------------
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
            _check_positive(name, getattr(self, name))


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


# ----- metarl train: configs and a trainer with nothing to learn ---------------------------------
class NoLearningTrainer:
    """The ``metarl train`` trainer of an agent with nothing to learn.

    One ``train_iteration`` declares the step budget spent (``env_steps = total_steps``) without
    touching an environment, so the shared loop goes straight to its checkpoint and the
    adaptation-curve evaluation. The checkpoint holds only the step count.
    """

    def __init__(self, agent: Agent, total_steps: int) -> None:
        self.agent = agent
        self.total_steps = total_steps
        self.env_steps = 0
        self.episode_returns: list[float] = []

    def train_iteration(self) -> dict[str, float]:
        """Nothing to collect or update; no metrics."""
        self.env_steps = self.total_steps
        return {}

    def state_dict(self) -> dict[str, Any]:
        """The step count (the agent has no parameters)."""
        return {"env_steps": self.env_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict`` output."""
        self.env_steps = int(state["env_steps"])


@dataclass
class ThompsonConfig:
    """Thompson sampling's priors: Beta for Bernoulli arms, Gaussian for Gaussian arms (whose
    reward noise is read from the env); defaults are the families' task distributions."""

    prior_alpha: float = 1.0
    prior_beta: float = 1.0
    prior_mean: float = 0.0
    prior_std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("prior_alpha", "prior_beta", "prior_std"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")


@dataclass
class UCB1Config:
    """UCB1's exploration constant ``c`` in ``sqrt(c ln t / n_j)`` (Auer et al.: 2)."""

    c: float = 2.0

    def __post_init__(self) -> None:
        check(self.c > 0, "c", self.c, "> 0")


@dataclass
class GreedyConfig:
    """Greedy (``epsilon = 0``) or epsilon-greedy. Bandits: ``GreedyAgent``'s estimate, the
    empirical mean unless ``prior_pulls > 0`` pseudo-pulls of reward ``prior_mean`` are added;
    tabular MDPs: the posterior mean MDP (``MeanModelAgent``; the prior fields are unused)."""

    epsilon: float = 0.0
    prior_mean: float = 0.0
    prior_pulls: float = 0.0

    def __post_init__(self) -> None:
        check(0.0 <= self.epsilon <= 1.0, "epsilon", self.epsilon, "a number in [0, 1]")
        check(self.prior_pulls >= 0.0, "prior_pulls", self.prior_pulls, ">= 0")


@dataclass
class GittinsConfig:
    """Finite-horizon Gittins index; ``horizon`` (pulls per trial) defaults to ``eval.episodes``."""

    horizon: int | None = None
    grid: int = 128

    def __post_init__(self) -> None:
        check(self.horizon is None or self.horizon >= 1, "horizon", self.horizon, "null or an integer >= 1")
        check(self.grid >= 2, "grid", self.grid, "an integer >= 2")


@dataclass
class BayesOptimalConfig:
    """Exact Bayes-optimal DP; ``horizon`` (pulls per trial) defaults to ``eval.episodes``."""

    horizon: int | None = None
    max_states: int = MAX_BELIEF_STATES

    def __post_init__(self) -> None:
        check(self.horizon is None or self.horizon >= 1, "horizon", self.horizon, "null or an integer >= 1")
        check(self.max_states >= 1, "max_states", self.max_states, "an integer >= 1")


@dataclass
class PSRLConfig:
    """PSRL's conjugate prior (``TabularPrior``); defaults are ``TabularMDP-v0``'s task distribution."""

    transition_alpha: float = 1.0
    reward_mean: float = 1.0
    reward_std: float = 1.0
    noise_std: float = 1.0

    def __post_init__(self) -> None:
        for name in ("transition_alpha", "reward_std", "noise_std"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")


@dataclass
class BEBConfig:
    """BEB's exploration bonus ``bonus / (1 + n(s, a))`` on the posterior mean MDP."""

    bonus: float = 1.0

    def __post_init__(self) -> None:
        check(self.bonus > 0, "bonus", self.bonus, "> 0")


@dataclass
class RandomConfig:
    """Uniformly random actions: nothing to configure."""


def _unwrapped_env(cfg: RunConfig) -> Any:
    """A single env of ``cfg.env`` to read the family's sizes from."""
    env = gym.make(cfg.env.id, **cfg.env.kwargs)
    env.close()
    return env.unwrapped


def _bandit(cfg: RunConfig, agent: str, kinds: tuple[str, ...] = BANDIT_KINDS) -> tuple[int, str, float]:
    """``(num_arms, kind, reward_std)`` of a bandit family; ``ValueError`` for any other env."""
    env = _unwrapped_env(cfg)
    kind = {BernoulliBanditEnv: "bernoulli", GaussianBanditEnv: "gaussian"}.get(type(env))
    if kind not in kinds:
        allowed = ", ".join(f"metarl/{k.capitalize()}Bandit-v0" for k in kinds)
        raise ValueError(f"agent {agent!r} needs a bandit family ({allowed}), got env.id={cfg.env.id!r}")
    return env.num_arms, kind, getattr(env.dynamics, "reward_std", 1.0)


def _tabular(cfg: RunConfig, agent: str) -> tuple[int, int, int]:
    """``(num_states, num_actions, horizon)`` of ``TabularMDP-v0``; ``ValueError`` otherwise."""
    env = _unwrapped_env(cfg)
    if not isinstance(env, TabularMDPEnv):
        raise ValueError(f"agent {agent!r} needs metarl/TabularMDP-v0, got env.id={cfg.env.id!r}")
    return env.num_states, env.num_actions, gym.spec(cfg.env.id).max_episode_steps


def make_thompson_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Thompson sampling on a Bernoulli or Gaussian bandit family."""
    num_arms, kind, reward_std = _bandit(cfg, "thompson")
    c: ThompsonConfig = cfg.agent_config
    agent = ThompsonSamplingAgent(
        num_arms, kind, cfg.seed, device, prior_alpha=c.prior_alpha, prior_beta=c.prior_beta,
        prior_mean=c.prior_mean, prior_std=c.prior_std, reward_std=reward_std,
    )  # fmt: skip
    return NoLearningTrainer(agent, cfg.train.total_steps)


def make_ucb1_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """UCB1 on a bandit family."""
    num_arms, _, _ = _bandit(cfg, "ucb1")
    return NoLearningTrainer(UCB1Agent(num_arms, cfg.seed, device, c=cfg.agent_config.c), cfg.train.total_steps)


def make_greedy_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Greedy / epsilon-greedy: empirical means on a bandit, the posterior mean MDP on TabularMDP-v0."""
    c: GreedyConfig = cfg.agent_config
    if isinstance(_unwrapped_env(cfg), TabularMDPEnv):
        agent: Agent = MeanModelAgent(*_tabular(cfg, "greedy"), cfg.seed, device, epsilon=c.epsilon)
    else:
        num_arms = _bandit(cfg, "greedy")[0]
        prior = {"prior_mean": c.prior_mean, "prior_pulls": c.prior_pulls}
        agent = GreedyAgent(num_arms, cfg.seed, device, epsilon=c.epsilon, **prior)
    return NoLearningTrainer(agent, cfg.train.total_steps)


def make_gittins_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Finite-horizon Gittins index on BernoulliBandit-v0."""
    num_arms, _, _ = _bandit(cfg, "gittins", ("bernoulli",))
    c: GittinsConfig = cfg.agent_config
    horizon = c.horizon or cfg.eval.episodes
    return NoLearningTrainer(GittinsIndexAgent(num_arms, horizon, cfg.seed, device, grid=c.grid), cfg.train.total_steps)


def make_bayes_optimal_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Exact Bayes-optimal policy on BernoulliBandit-v0."""
    num_arms, _, _ = _bandit(cfg, "bayes_optimal", ("bernoulli",))
    c: BayesOptimalConfig = cfg.agent_config
    horizon = c.horizon or cfg.eval.episodes
    agent = BayesOptimalBernoulliAgent(num_arms, horizon, cfg.seed, device, max_states=c.max_states)
    return NoLearningTrainer(agent, cfg.train.total_steps)


def make_psrl_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """PSRL on TabularMDP-v0."""
    c: PSRLConfig = cfg.agent_config
    prior = TabularPrior(c.transition_alpha, c.reward_mean, c.reward_std, c.noise_std)
    return NoLearningTrainer(PSRLAgent(*_tabular(cfg, "psrl"), cfg.seed, device, prior=prior), cfg.train.total_steps)


def make_beb_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """BEB on TabularMDP-v0."""
    agent = MeanModelAgent(*_tabular(cfg, "beb"), cfg.seed, device, bonus=cfg.agent_config.bonus)
    return NoLearningTrainer(agent, cfg.train.total_steps)


def make_random_trainer(cfg: RunConfig, device: torch.device) -> NoLearningTrainer:
    """Uniformly random actions on any family."""
    agent = RandomAgent(_unwrapped_env(cfg).action_space, cfg.seed, device)
    return NoLearningTrainer(agent, cfg.train.total_steps)


#: Registered names -> (config dataclass, trainer factory); ``metarl.agents`` registers them.
CLASSICAL_AGENTS: dict[str, tuple[type, Callable[[RunConfig, torch.device], NoLearningTrainer]]] = {
    "thompson": (ThompsonConfig, make_thompson_trainer),
    "ucb1": (UCB1Config, make_ucb1_trainer),
    "greedy": (GreedyConfig, make_greedy_trainer),
    "gittins": (GittinsConfig, make_gittins_trainer),
    "bayes_optimal": (BayesOptimalConfig, make_bayes_optimal_trainer),
    "psrl": (PSRLConfig, make_psrl_trainer),
    "beb": (BEBConfig, make_beb_trainer),
    "random": (RandomConfig, make_random_trainer),
}
