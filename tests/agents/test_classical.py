"""Classical reference agents: exactness of the DP tables, behaviour on held-out tasks, the
``valid`` mask, reproducibility, and ``metarl train`` on a classical config."""

from functools import lru_cache
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from metarl.agents.classical import (
    BayesOptimalBernoulliAgent,
    GittinsIndexAgent,
    GreedyAgent,
    MeanModelAgent,
    PSRLAgent,
    ThompsonSamplingAgent,
    UCB1Agent,
    bayes_optimal_table,
    finite_horizon_gittins_table,
    gittins_offsets,
    sample_gamma,
)

import metarl  # noqa: F401  (registers the families)
from metarl.cli import main
from metarl.common.config import load_config
from metarl.common.protocol import RandomAgent, Transition
from metarl.core.vector import TaskVectorEnv
from metarl.report.adaptation import load_adaptation
from metarl.runner.evaluation import run_adaptation
from metarl.runner.train import make_trainer

CONFIGS = Path(__file__).resolve().parents[2] / "configs" / "classical"
BERNOULLI, GAUSSIAN, MDP = "metarl/BernoulliBandit-v0", "metarl/GaussianBandit-v0", "metarl/TabularMDP-v0"


@lru_cache(maxsize=None)
def held_out_env(env_id: str, n: int) -> TaskVectorEnv:
    """A batched env (autoreset off) on ``n`` tasks drawn apart from the family's task sets.

    Built once per module: building one samples and validates the family's training set, which
    costs more than the short trials below.
    """
    tasks = gym.make(env_id).unwrapped.sample_tasks(n, seed=123)
    mode = "vector_entry_point"
    return gym.make_vec(env_id, num_envs=n, vectorization_mode=mode, tasks=tasks, autoreset_mode="disabled")


def trial_returns(agent, env_id: str, n: int, episodes: int) -> np.ndarray:
    """``(n, episodes)`` returns of the agent on the ``n`` held-out tasks."""
    return run_adaptation(agent, held_out_env(env_id, n), episodes, seed=0).returns.numpy()


# ----- exactness ---------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def brute_force_value(counts: tuple[tuple[int, int], ...], pulls_left: int) -> float:
    """Bayes-optimal expected reward over ordered per-arm (successes, failures), uniform priors."""
    if pulls_left == 0:
        return 0.0
    best = 0.0
    for i, (s, f) in enumerate(counts):
        p = (s + 1) / (s + f + 2)
        win = counts[:i] + ((s + 1, f),) + counts[i + 1 :]
        loss = counts[:i] + ((s, f + 1),) + counts[i + 1 :]
        later = p * brute_force_value(win, pulls_left - 1) + (1 - p) * brute_force_value(loss, pulls_left - 1)
        best = max(best, p + later)
    return best


@pytest.mark.parametrize("num_arms,horizon", [(2, 3), (3, 5), (4, 6)])
def test_bayes_optimal_value_matches_brute_force(num_arms, horizon):
    table = bayes_optimal_table(num_arms, horizon)
    assert table.expected_return == pytest.approx(brute_force_value(((0, 0),) * num_arms, horizon), abs=1e-12)


def test_bayes_optimal_agent_earns_its_value_on_prior_tasks():
    agent = BayesOptimalBernoulliAgent(5, 10, seed=1)
    totals = trial_returns(agent, BERNOULLI, 2000, 10).sum(axis=1)
    stderr = totals.std(ddof=1) / np.sqrt(len(totals))
    assert abs(totals.mean() - agent.expected_return) < 4 * stderr, (totals.mean(), agent.expected_return)


def test_bayes_optimal_refuses_belief_spaces_past_max_states():
    with pytest.raises(ValueError, match="max_states=100 belief states"):
        bayes_optimal_table(5, 10, max_states=100)


def bisection_gittins_index(s: int, f: int, pulls_left: int) -> float:
    """The finite-horizon Gittins index by bisection on the calibration problem, to 1e-10."""

    def advantage(lam: float) -> float:
        @lru_cache(maxsize=None)
        def value(s: int, f: int, m: int) -> float:
            if m == 0:
                return 0.0
            p = (s + 1) / (s + f + 2)
            return max(m * lam, p * (1 + value(s + 1, f, m - 1)) + (1 - p) * value(s, f + 1, m - 1))

        p = (s + 1) / (s + f + 2)
        m = pulls_left
        return p * (1 + value(s + 1, f, m - 1)) + (1 - p) * value(s, f + 1, m - 1) - m * lam

    lo, hi = 0.0, 1.0
    while hi - lo > 1e-10:
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if advantage(mid) > 0 else (lo, mid)
    return lo


def test_gittins_table_matches_bisection():
    horizon = 8
    table, offsets = finite_horizon_gittins_table(horizon), gittins_offsets(horizon)
    for m in range(1, horizon + 1):
        for t in range(horizon - m + 1):
            for s in range(t + 1):
                got = float(table[offsets[m - 1] + t * (t + 1) // 2 + s])
                assert got == pytest.approx(bisection_gittins_index(s, t - s, m), abs=1e-3), (s, t - s, m)
    # One pull left: the index is the posterior mean.
    assert float(table[offsets[horizon - 1]]) == pytest.approx(bisection_gittins_index(0, 0, horizon), abs=1e-3)
    assert float(table[2]) == pytest.approx(2 / 3)


def test_sample_gamma_moments_and_seed():
    alpha = torch.tensor([0.5, 1.0, 4.0], dtype=torch.float64).repeat(20000, 1)
    draws = sample_gamma(alpha, torch.Generator().manual_seed(0))
    assert torch.allclose(draws.mean(0), alpha[0], rtol=0.05)
    assert torch.allclose(draws.var(0), alpha[0], rtol=0.1)
    assert torch.equal(draws, sample_gamma(alpha, torch.Generator().manual_seed(0)))


# ----- behaviour on held-out tasks ---------------------------------------------------------------
def test_bernoulli_bandit_ranking():
    space = gym.make(BERNOULLI).action_space
    agents = {
        "bayes": BayesOptimalBernoulliAgent(5, 10),
        "gittins": GittinsIndexAgent(5, 10),
        "thompson": ThompsonSamplingAgent(5, "bernoulli"),
        "ucb1": UCB1Agent(5),
        "greedy": GreedyAgent(5),
        "greedy-posterior": GreedyAgent(5, prior_mean=0.5, prior_pulls=2),
        "random": RandomAgent(space),
    }
    mean = {name: trial_returns(agent, BERNOULLI, 2000, 10).sum(axis=1).mean() for name, agent in agents.items()}
    assert mean["random"] == pytest.approx(5.0, abs=0.15)  # E[p] = 0.5 per pull
    assert mean["bayes"] >= mean["thompson"] - 0.05
    assert mean["bayes"] >= mean["gittins"] - 0.25 and mean["gittins"] > mean["thompson"] + 0.3
    for name in ("thompson", "ucb1", "greedy"):
        assert mean[name] > mean["random"] + 0.3, mean
    # Valuing unpulled arms at the prior mean (0.5) makes greedy win-stay, lose-shift: better in
    # short trials than trying every arm once (RL^2's greedy row at n = 10 is 6.6).
    assert mean["greedy-posterior"] > mean["greedy"] + 0.3, mean


def test_gaussian_thompson_beats_random_and_learns():
    returns = trial_returns(ThompsonSamplingAgent(5, "gaussian", seed=2), GAUSSIAN, 800, 20)
    random = trial_returns(RandomAgent(gym.make(GAUSSIAN).action_space), GAUSSIAN, 800, 20)
    assert returns.sum(1).mean() > random.sum(1).mean() + 5  # E[max of 5 N(0,1)] ~ 1.16 per pull
    assert returns[:, -5:].mean() > returns[:, :2].mean() + 0.4


def test_psrl_improves_within_a_trial_and_beats_random():
    psrl = trial_returns(PSRLAgent(10, 5, 10, seed=3), MDP, 120, 10)
    random = trial_returns(RandomAgent(gym.make(MDP).action_space), MDP, 120, 10)
    assert psrl[:, -3:].mean() > psrl[:, 0].mean() + 3  # ~10 in episode 1, ~16 by episode 8
    assert psrl.sum(1).mean() > random.sum(1).mean() + 20
    greedy = trial_returns(MeanModelAgent(10, 5, 10, seed=3), MDP, 120, 10)
    assert greedy.sum(1).mean() > random.sum(1).mean() + 20


# ----- the adaptation interface ------------------------------------------------------------------
def bandit_transition(n: int, action: torch.Tensor, reward: torch.Tensor, valid: torch.Tensor) -> Transition:
    obs = torch.zeros(n, 1)
    done = torch.ones(n, dtype=torch.bool)
    return Transition(obs, action, reward, obs, done & valid, torch.zeros(n, dtype=torch.bool), valid)


def mdp_transition(n: int, valid: torch.Tensor, seed: int) -> Transition:
    g = torch.Generator().manual_seed(seed)
    eye = torch.eye(10)
    obs, next_obs = eye[torch.randint(10, (n,), generator=g)], eye[torch.randint(10, (n,), generator=g)]
    action = torch.randint(5, (n,), generator=g)
    no = torch.zeros(n, dtype=torch.bool)
    return Transition(obs, action, torch.randn(n, generator=g), next_obs, no, no, valid)


def states_equal_in_rows(a, b, rows: torch.Tensor) -> bool:
    """Whether every ``(n, ...)`` tensor field of two agent states agrees in ``rows``."""
    fields = [f for f in vars(a) if isinstance(getattr(a, f), torch.Tensor) and getattr(a, f).dim() > 0]
    return all(torch.equal(getattr(a, f)[rows], getattr(b, f)[rows]) for f in fields)


@pytest.mark.parametrize(
    "agent",
    [ThompsonSamplingAgent(5, "bernoulli"), ThompsonSamplingAgent(5, "gaussian"), UCB1Agent(5),
     GreedyAgent(5, epsilon=0.1), GreedyAgent(5, prior_mean=0.5, prior_pulls=2), GittinsIndexAgent(5, 10),
     BayesOptimalBernoulliAgent(5, 10)],
    ids=lambda a: a.name,
)  # fmt: skip
def test_bandit_agents_ignore_invalid_rows(agent):
    n = 6
    state = agent.begin_task(n)
    for k in range(3):  # some history first
        action, state = agent.act(torch.zeros(n, 1), state, True)
        everyone = torch.ones(n, dtype=torch.bool)
        state = agent.observe(state, bandit_transition(n, action, (action % 2).float(), everyone))
    valid = torch.tensor([True, False, True, False, False, True])
    action = torch.arange(n) % 5
    after = agent.observe(state, bandit_transition(n, action, torch.ones(n), valid))
    assert states_equal_in_rows(after, state, ~valid)
    assert torch.equal(after.pulls[valid].sum(1), state.pulls[valid].sum(1) + 1)


def test_tabular_agents_ignore_invalid_rows():
    n = 5
    valid = torch.tensor([True, False, True, True, False])
    for agent in (PSRLAgent(10, 5, 10), MeanModelAgent(10, 5, 10, bonus=1.0)):
        state = agent.begin_task(n)
        state = agent.observe(state, mdp_transition(n, torch.ones(n, dtype=torch.bool), seed=0))
        after = agent.observe(state, mdp_transition(n, valid, seed=1))
        assert states_equal_in_rows(after, state, ~valid)
        assert torch.equal(after.step, state.step + valid.long())
        assert torch.equal(after.visits.sum((1, 2)), state.visits.sum((1, 2)) + valid.double())


def test_agents_are_reproducible_from_their_seed():
    for make in (lambda s: PSRLAgent(10, 5, 10, seed=s), lambda s: MeanModelAgent(10, 5, 10, seed=s, epsilon=0.2)):
        a, b, c = (trial_returns(make(s), MDP, 120, 3) for s in (7, 7, 8))
        assert np.array_equal(a, b) and not np.array_equal(a, c)
    a, b = (trial_returns(ThompsonSamplingAgent(5, "bernoulli", seed=7), BERNOULLI, 2000, 10) for _ in range(2))
    assert np.array_equal(a, b)


# ----- metarl train ------------------------------------------------------------------------------
def test_metarl_train_writes_the_evaluation(tmp_path):
    run = tmp_path / "run"
    assert main(["train", str(CONFIGS / "bayes_optimal_bernoulli.yaml"), "eval.episodes=4", "--run-dir", str(run)]) == 0
    for name in ("adaptation.csv", "adaptation.json", "adaptation.png"):
        assert (run / "eval" / name).stat().st_size > 0
    assert load_adaptation(run).returns.shape == (30, 4)
    assert main(["evaluate", str(run), "--episodes", "2"]) == 0
    (ad_hoc,) = (run / "eval").glob("test-2ep-step*")  # beside the run's own evaluation, which stays
    assert load_adaptation(ad_hoc).returns.shape == (30, 2) and load_adaptation(run).returns.shape == (30, 4)


def test_every_classical_config_builds_its_agent():
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = load_config(path)
        trainer = make_trainer(cfg, torch.device("cpu"))
        assert trainer.train_iteration() == {} and trainer.env_steps == cfg.train.total_steps, path.name


def test_bandit_agent_on_an_mdp_is_an_error_naming_the_env():
    cfg = load_config(CONFIGS / "ucb1_bernoulli.yaml", ["env.id=metarl/TabularMDP-v0"])
    with pytest.raises(ValueError, match="agent 'ucb1' needs a bandit family .*metarl/TabularMDP-v0"):
        make_trainer(cfg, torch.device("cpu"))
