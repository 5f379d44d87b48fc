"""The classical rows of the RL^2 paper's tables 1 and 2, measured with metarl's agents.

Duan et al. (2016), "RL^2: Fast Reinforcement Learning via Slow Reinforcement Learning"
(arXiv:1611.02779): table 1 gives the total reward of a trial of ``n`` pulls on Bernoulli
bandits with ``k`` arms (arm probabilities ~ U[0, 1]), table 2 the total reward of ``n``
episodes of 10 steps on random tabular MDPs (10 states, 5 actions). Each cell below is the mean
total reward over the same held-out tasks for every agent, with the half-width of its 95%
confidence interval, followed in brackets by the paper's number for that row.

The paper's numbers are a transcription that could not be checked against the paper's text
where this script was written: treat them as unverified until compared with the PDF.

Bandit (epsilon-)greedy values arms by their Beta(1, 1) posterior mean by default (an unpulled
arm is worth 0.5, so greedy keeps a winning arm), which is what the paper's greedy rows look like;
``--greedy-estimate empirical`` uses empirical means instead (every arm is tried once first).
On MDPs, (epsilon-)greedy plans on the posterior mean MDP.

Agents that do not know the trial length (random, Thompson, UCB1, (epsilon-)greedy, PSRL, BEB)
run one trial of the longest length and are read at every shorter length (the first ``n`` pulls
of a longer trial are a trial of ``n`` pulls); the Gittins index and the Bayes-optimal policy are
run once per length. The Bayes-optimal policy is exact DP and only feasible for short trials
(``n = 10``). Pass ``--rl2-run RUN_DIR`` (runs of ``metarl train`` with agent ``rl2``) to add
RL^2, evaluated from the run's latest checkpoint on the trial its config trained for.

    python benchmarks/rl2_tables.py                 # n <= 100, 500 tasks: a few minutes on 2 cores
    python benchmarks/rl2_tables.py --full          # the paper's grid with n = 500 and 1000 tasks
    python benchmarks/rl2_tables.py --rl2-run runs/rl2-BernoulliBandit-...
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from metarl.agents.classical import (
    BayesOptimalBernoulliAgent,
    GittinsIndexAgent,
    GreedyAgent,
    MeanModelAgent,
    PSRLAgent,
    ThompsonSamplingAgent,
    UCB1Agent,
)

import metarl  # noqa: F401  (registers the families)
from metarl.common.config import RunConfig, load_config
from metarl.common.protocol import Agent, RandomAgent
from metarl.core.vector import TaskVectorEnv, resolve_device
from metarl.report.results import mean_ci
from metarl.runner.evaluation import run_adaptation
from metarl.runner.runs import load_checkpoint
from metarl.runner.train import make_trainer

BANDIT, MDP = "metarl/BernoulliBandit-v0", "metarl/TabularMDP-v0"

# Paper, table 1 (total reward, Bernoulli bandits): (n pulls, k arms) -> column -> value.
# Unverified transcription; see the module docstring. "ots": optimistic Thompson sampling.
PAPER_TABLE_1: dict[tuple[int, int], dict[str, float]] = {
    (n, k): dict(zip(("random", "gittins", "thompson", "ots", "ucb1", "epsilon-greedy", "greedy", "rl2"), row))
    for (n, k), row in {
        (10, 5): (5.0, 6.6, 5.7, 6.5, 6.7, 6.6, 6.6, 6.7),
        (10, 10): (5.0, 6.6, 5.5, 6.2, 6.7, 6.6, 6.6, 6.7),
        (10, 50): (5.1, 6.5, 5.2, 5.5, 6.6, 6.5, 6.5, 6.8),
        (100, 5): (49.9, 78.3, 74.7, 77.9, 78.0, 75.4, 74.8, 78.7),
        (100, 10): (49.9, 82.8, 76.7, 81.4, 82.4, 77.4, 77.1, 83.5),
        (100, 50): (49.8, 85.2, 64.5, 67.7, 84.3, 78.3, 78.0, 84.9),
        (500, 5): (249.8, 405.8, 402.0, 406.7, 405.8, 388.2, 380.6, 401.6),
        (500, 10): (249.0, 437.8, 429.5, 438.9, 437.1, 408.0, 395.0, 432.5),
        (500, 50): (249.6, 463.7, 427.2, 437.6, 457.6, 413.6, 402.8, 438.9),
    }.items()
}
# Paper, table 2 (total reward, random MDPs): n episodes -> column -> value. Unverified transcription.
PAPER_TABLE_2: dict[int, dict[str, float]] = {
    n: dict(zip(("random", "psrl", "opsrl", "ucrl2", "beb", "epsilon-greedy", "greedy", "rl2"), row))
    for n, row in {
        10: (100.1, 138.1, 144.1, 146.6, 150.2, 132.8, 134.8, 156.2),
        25: (250.2, 408.8, 425.2, 424.1, 427.8, 377.3, 368.8, 445.7),
        50: (499.7, 904.4, 930.7, 918.9, 917.8, 823.3, 769.3, 936.1),
        75: (749.9, 1417.1, 1449.2, 1427.6, 1422.6, 1293.9, 1172.9, 1428.8),
        100: (999.4, 1939.5, 1973.9, 1942.1, 1935.1, 1778.2, 1578.5, 1913.7),
    }.items()
}
# (epsilon-)greedy valuing arms by their Beta(1, 1) posterior mean: two pseudo-pulls worth 0.5.
BETA_PRIOR_GREEDY = {"prior_mean": 0.5, "prior_pulls": 2.0}
BANDIT_COLUMNS = ("random", "gittins", "optimal", "thompson", "ucb1", "epsilon-greedy", "greedy", "rl2")
MDP_COLUMNS = ("random", "psrl", "beb", "epsilon-greedy", "greedy", "rl2")


@dataclass
class Cell:
    """The mean total reward over tasks and the half-width of its 95% confidence interval."""

    mean: float
    half_width: float

    @classmethod
    def of(cls, totals: np.ndarray) -> Cell:
        mean, low, _ = mean_ci(totals)
        return cls(float(mean), float(mean - low))


@dataclass
class Table:
    """Rows keyed by setup (e.g. ``(n, k)``), each mapping a column to our measured cell."""

    rows: dict[Any, dict[str, Cell]] = field(default_factory=dict)

    def put(self, setup: Any, column: str, cell: Cell) -> None:
        self.rows.setdefault(setup, {})[column] = cell


@dataclass(frozen=True)
class RL2Run:
    """An RL^2 run directory, its agent restored from the latest checkpoint, and its setting."""

    path: Path
    cfg: RunConfig
    agent: Agent
    episodes: int


# ----- rollouts ----------------------------------------------------------------------------------
def make_env(env_id: str, n_tasks: int, seed: int, device: torch.device, env_kwargs: dict[str, Any]) -> TaskVectorEnv:
    """A batched env (autoreset off) on ``n_tasks`` tasks drawn with ``seed`` from the family."""
    family = gym.make(env_id, **env_kwargs).unwrapped
    tasks = family.sample_tasks(n_tasks, seed=seed)
    return gym.make_vec(
        env_id, num_envs=n_tasks, vectorization_mode="vector_entry_point", device=device, tasks=tasks,
        autoreset_mode="disabled", **env_kwargs,
    )  # fmt: skip


def cumulative_returns(agent: Agent, env: TaskVectorEnv, episodes: int, seed: int) -> np.ndarray:
    """``(n_tasks, episodes)``: each task's total reward after 1..``episodes`` episodes."""
    rollout = run_adaptation(agent, env, episodes, deterministic=True, seed=seed)
    return rollout.returns.cpu().numpy().cumsum(axis=1)


def load_rl2_run(path: str, device: torch.device) -> RL2Run:
    """The run's RL^2 agent from its latest checkpoint (as ``metarl evaluate`` restores it)."""
    cfg = load_config(Path(path) / "config.yaml")
    if cfg.agent != "rl2":
        raise ValueError(f"--rl2-run {path!r} is a run of agent {cfg.agent!r}; allowed: runs of agent 'rl2'")
    trainer = make_trainer(cfg, device)
    trainer.load_state_dict(load_checkpoint(path, cfg)["state"]["trainer"])
    episodes = getattr(cfg.agent_config, "trial_episodes", None) or cfg.eval.episodes
    return RL2Run(Path(path), cfg, trainer.agent, episodes)


def bandit_arms(run: RL2Run) -> int | None:
    """The number of arms of an RL^2 run on ``BernoulliBandit-v0``; None for a run on another family."""
    return gym.make(BANDIT, **run.cfg.env.kwargs).unwrapped.num_arms if run.cfg.env.id == BANDIT else None


# ----- table 1: bandits --------------------------------------------------------------------------
def bandit_table(
    pulls: Sequence[int], arms: Sequence[int], n_tasks: int, seed: int, epsilon: float, greedy_prior: bool,
    device: torch.device, rl2_runs: Sequence[RL2Run],
) -> Table:  # fmt: skip
    """Total rewards of the bandit agents for every ``(n, k)`` in ``pulls x arms``, plus the
    setups of the RL^2 runs on ``BernoulliBandit-v0``. ``greedy_prior``: (epsilon-)greedy on the
    Beta(1, 1) posterior mean rather than the empirical mean."""
    prior = BETA_PRIOR_GREEDY if greedy_prior else {}
    table = Table()
    rl2_by_arms: dict[int, list[RL2Run]] = {}
    for run in rl2_runs:
        if (arms_of_run := bandit_arms(run)) is not None:
            rl2_by_arms.setdefault(arms_of_run, []).append(run)
    for k in sorted({*arms, *rl2_by_arms}):
        runs = rl2_by_arms.get(k, [])
        lengths = sorted({*pulls, *(run.episodes for run in runs)}) if k in arms else sorted({r.episodes for r in runs})
        env = make_env(BANDIT, n_tasks, seed, device, {"num_arms": k})
        agnostic: dict[str, Agent] = {
            "random": RandomAgent(env.single_action_space, seed, device),
            "thompson": ThompsonSamplingAgent(k, "bernoulli", seed, device),
            "ucb1": UCB1Agent(k, seed, device),
            "epsilon-greedy": GreedyAgent(k, seed, device, epsilon=epsilon, **prior),
            "greedy": GreedyAgent(k, seed, device, **prior),
        }
        if k in arms:
            for column, agent in agnostic.items():
                totals = cumulative_returns(agent, env, max(lengths), seed)
                for n in lengths:
                    table.put((n, k), column, Cell.of(totals[:, n - 1]))
            for n in lengths:
                gittins = GittinsIndexAgent(k, n, seed, device)
                table.put((n, k), "gittins", Cell.of(cumulative_returns(gittins, env, n, seed)[:, -1]))
                if n <= 10:  # exact DP: 2,296 beliefs at n = 10; the belief space explodes with n
                    optimal = BayesOptimalBernoulliAgent(k, n, seed, device)
                    table.put((n, k), "optimal", Cell.of(cumulative_returns(optimal, env, n, seed)[:, -1]))
        for run in runs:
            table.put((run.episodes, k), "rl2", Cell.of(cumulative_returns(run.agent, env, run.episodes, seed)[:, -1]))
        env.close()
    return table


# ----- table 2: tabular MDPs ---------------------------------------------------------------------
def mdp_table(
    episodes: Sequence[int], n_tasks: int, seed: int, epsilon: float, bonus: float, device: torch.device,
    rl2_runs: Sequence[RL2Run],
) -> Table:  # fmt: skip
    """Total rewards of the tabular agents after each number of episodes in ``episodes``, plus
    the trial lengths of the RL^2 runs on ``TabularMDP-v0``."""
    table = Table()
    runs = [run for run in rl2_runs if run.cfg.env.id == MDP]
    env = make_env(MDP, n_tasks, seed, device, {})
    family = env.family
    sizes = (family.num_states, family.num_actions, gym.spec(MDP).max_episode_steps)
    agents: dict[str, Agent] = {
        "random": RandomAgent(env.single_action_space, seed, device),
        "psrl": PSRLAgent(*sizes, seed, device),
        "beb": MeanModelAgent(*sizes, seed, device, bonus=bonus),
        "epsilon-greedy": MeanModelAgent(*sizes, seed, device, epsilon=epsilon),
        "greedy": MeanModelAgent(*sizes, seed, device),
    }
    lengths = sorted({*episodes, *(run.episodes for run in runs)})
    for column, agent in agents.items():
        totals = cumulative_returns(agent, env, max(lengths), seed)
        for n in lengths:
            table.put(n, column, Cell.of(totals[:, n - 1]))
    for run in runs:
        table.put(run.episodes, "rl2", Cell.of(cumulative_returns(run.agent, env, run.episodes, seed)[:, -1]))
    env.close()
    return table


# ----- output ------------------------------------------------------------------------------------
def markdown(table: Table, columns: Sequence[str], paper: dict[Any, dict[str, float]], setup_name: str) -> str:
    """A markdown table: one row per setup, ``mean ± half-width (paper)`` per column."""
    present = [c for c in columns if any(c in row for row in table.rows.values())]
    lines = [f"| {setup_name} | " + " | ".join(present) + " |", "|---" * (len(present) + 1) + "|"]
    for setup in sorted(table.rows):
        cells = []
        for column in present:
            cell = table.rows[setup].get(column)
            digits = 2 if cell and abs(cell.mean) < 20 else 1  # the paper's n = 10 bandit rows have 2 digits
            ours = f"{cell.mean:.{digits}f} ± {cell.half_width:.{digits}f}" if cell else "—"
            theirs = paper.get(setup, {}).get(column)
            cells.append(f"{ours} ({theirs})" if theirs is not None else ours)
        label = ", ".join(map(str, setup)) if isinstance(setup, tuple) else str(setup)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the paper's whole grid (n up to 500 pulls) on 1000 tasks")
    parser.add_argument("--tasks", type=int, default=None, help="held-out tasks per setup (default 500, --full 1000)")
    parser.add_argument("--pulls", type=int, nargs="+", default=None, help="bandit trial lengths (default 10 100)")
    parser.add_argument("--arms", type=int, nargs="+", default=[5, 10, 50], help="bandit arm counts (default 5 10 50)")
    parser.add_argument("--episodes", type=int, nargs="+", default=[10, 25, 50, 75, 100], help="MDP trial lengths")
    parser.add_argument("--epsilon", type=float, default=0.1, help="epsilon of epsilon-greedy (default 0.1)")
    parser.add_argument(
        "--greedy-estimate", choices=["posterior", "empirical"], default="posterior",
        help="bandits: (epsilon-)greedy on the Beta(1, 1) posterior mean (default) or the empirical mean",
    )  # fmt: skip
    parser.add_argument("--bonus", type=float, default=1.0, help="BEB's bonus coefficient (default 1)")
    parser.add_argument("--rl2-run", action="append", default=[], metavar="RUN_DIR", help="RL^2 run (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tasks, the envs and the agents (default 0)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or auto (default cpu)")
    parser.add_argument("--only", choices=["bandits", "mdps"], default=None, help="run one table")
    args = parser.parse_args(argv)
    args.tasks = args.tasks or (1000 if args.full else 500)
    args.pulls = args.pulls or ([10, 100, 500] if args.full else [10, 100])
    return args


def print_table(title: str, notes: Sequence[str], body: str) -> None:
    """A markdown section: title, notes, table."""
    print(f"## {title}\n\n" + "; ".join(notes) + f"\n\n{body}\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    device = resolve_device(args.device)
    rl2_runs = [load_rl2_run(path, device) for path in args.rl2_run]
    notes = [
        f"ours: mean ± 95% CI half-width of the total reward over {args.tasks} held-out tasks",
        "in brackets: the paper's number (unverified transcription)",
        f"epsilon-greedy: epsilon = {args.epsilon}",
    ]
    if args.only != "mdps":
        start = time.perf_counter()
        greedy_prior = args.greedy_estimate == "posterior"
        table = bandit_table(
            args.pulls, args.arms, args.tasks, args.seed, args.epsilon, greedy_prior, device, rl2_runs
        )  # fmt: skip
        estimate = "Beta(1, 1) posterior mean" if greedy_prior else "empirical mean (each arm once first)"
        extra = [f"greedy estimate: {estimate}", "optimal: exact Bayes-optimal DP (no paper column)"]
        print_table("Table 1: Bernoulli bandits, n pulls with k arms", notes + extra,
                    markdown(table, BANDIT_COLUMNS, PAPER_TABLE_1, "n, k"))  # fmt: skip
        print(f"(table 1: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    if args.only != "bandits":
        start = time.perf_counter()
        table = mdp_table(args.episodes, args.tasks, args.seed, args.epsilon, args.bonus, device, rl2_runs)
        extra = ["greedy: plans on the posterior mean MDP", f"BEB: bonus = {args.bonus}"]
        body = markdown(table, MDP_COLUMNS, PAPER_TABLE_2, "n")
        print_table("Table 2: random tabular MDPs, n episodes", notes + extra, body)
        print(f"(table 2: {time.perf_counter() - start:.0f} s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
