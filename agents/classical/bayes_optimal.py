"""The exact Bayes-optimal policy of a Bernoulli bandit trial with a known horizon: dynamic
programming over the belief states (multisets of posterior counts), hashed for vectorized lookups
by ``BayesOptimalBernoulliAgent``."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch
from metarl.agents.classical.agent import ArmStats, BanditAgent, bernoulli_counts, count_code
from torch import Tensor

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
        successes, failures = bernoulli_counts(stats)
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

