"""The finite-horizon Gittins index of Bernoulli arms with a known horizon: the calibration DP
that tabulates it for every posterior-count state, and ``GittinsIndexAgent``, which looks it up."""

from __future__ import annotations

import functools

import torch
from metarl.agents.classical.agent import ArmStats, BanditAgent, bernoulli_counts, count_code
from torch import Tensor


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
        successes, failures = bernoulli_counts(stats)
        left = (self.horizon - stats.total_pulls.long()).clamp(min=1).unsqueeze(-1)
        # Past the horizon the counts can exceed the table's; they are then read as with one pull
        # left, where the index is the posterior mean (computed directly below).
        posterior_mean = (successes + 1).double() / (successes + failures + 2).double()
        in_table = (successes + failures) <= self.horizon - left
        code = torch.where(in_table, count_code(successes, failures), 0)
        looked_up = self.table[self.offsets[left - 1] + code]
        return torch.where(in_table & (left > 1), looked_up, posterior_mean)

