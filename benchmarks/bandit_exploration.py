"""How bandit agents explore: which arms they pull over a trial, on the same held-out tasks.

The RL^2 paper's table 1 gives only total rewards; this script shows the behaviour behind them on
Bernoulli bandits (arm probabilities ~ U[0, 1]): the expected regret of a trial (the best arm's
probability minus the pulled arm's, summed over the pulls), the share of pulls on the best arm in
the first and the last tenth of the trial, how many distinct arms the first ``2k`` pulls try, and
how often the last pull is on the best arm. An RL^2 policy that commits to an arm too early tries
few arms and rarely ends on the best one.

    python benchmarks/bandit_exploration.py --pulls 500 --rl2-run runs/rl2-bandit-500
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))  # rl2_tables, beside this script
from metarl.agents.classical import GittinsIndexAgent, GreedyAgent, ThompsonSamplingAgent, UCB1Agent  # noqa: E402
from rl2_tables import BANDIT, BETA_PRIOR_GREEDY, bandit_arms, load_rl2_run, make_env  # noqa: E402

from metarl.common.protocol import Agent, RandomAgent  # noqa: E402
from metarl.runner.evaluation import run_adaptation  # noqa: E402


class RecordingAgent:
    """``agent`` unchanged, with every action it takes kept in ``actions`` (one tensor per step)."""

    def __init__(self, agent: Agent) -> None:
        self.agent, self.actions = agent, []

    def begin_task(self, n_tasks: int) -> Any:
        return self.agent.begin_task(n_tasks)

    def act(self, obs: torch.Tensor, state: Any, deterministic: bool) -> tuple[torch.Tensor, Any]:
        actions, state = self.agent.act(obs, state, deterministic)
        self.actions.append(actions.cpu().clone())
        return actions, state

    def observe(self, state: Any, transition: Any) -> Any:
        return self.agent.observe(state, transition)

    def end_episode(self, state: Any) -> Any:
        return self.agent.end_episode(state)


@dataclass(frozen=True)
class Exploration:
    """Means over tasks of one agent's trial of ``pulls`` pulls."""

    agent: str
    total_reward: float
    regret: float
    best_share_first: float
    best_share_last: float
    arms_tried_early: float
    ends_on_best: float


def explore(name: str, agent: Agent, arm_probs: np.ndarray, env: Any, pulls: int, seed: int) -> Exploration:
    """Run ``agent`` for one trial of ``pulls`` pulls on every task of ``env`` and summarise its arms."""
    recorder = RecordingAgent(agent)
    totals = run_adaptation(recorder, env, pulls, deterministic=True, seed=seed).returns.sum(1).cpu().numpy()
    arms = torch.stack(recorder.actions).numpy().T  # (tasks, pulls)
    arms = arms - int(env.single_action_space.start)
    rows = np.arange(len(arm_probs))[:, None]
    best = arm_probs.argmax(1)[:, None]
    on_best = arms == best
    tenth = max(1, pulls // 10)
    early = arms[:, : 2 * arm_probs.shape[1]]
    return Exploration(
        agent=name,
        total_reward=float(totals.mean()),
        regret=float((arm_probs.max(1)[:, None] - arm_probs[rows, arms]).sum(1).mean()),
        best_share_first=float(on_best[:, :tenth].mean()),
        best_share_last=float(on_best[:, -tenth:].mean()),
        arms_tried_early=float(np.mean([len(set(row)) for row in early])),
        ends_on_best=float(on_best[:, -1].mean()),
    )


def main(argv: Sequence[str] | None = None) -> list[Exploration]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pulls", type=int, default=500, help="pulls per trial (default 500)")
    parser.add_argument("--arms", type=int, default=5, help="arms (default 5)")
    parser.add_argument("--tasks", type=int, default=500, help="held-out tasks (default 500)")
    parser.add_argument("--rl2-run", action="append", default=[], metavar="RUN_DIR", help="RL^2 run (repeatable)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the tasks, the envs and the agents (default 0)")
    args = parser.parse_args(argv)
    device, k, seed = torch.device("cpu"), args.arms, args.seed
    env = make_env(BANDIT, args.tasks, seed, device, {"num_arms": k})
    arm_probs = env.get_tasks()["arm_probs"].cpu().numpy()
    agents: dict[str, Agent] = {
        "random": RandomAgent(env.single_action_space, seed, device),
        "greedy": GreedyAgent(k, seed, device, **BETA_PRIOR_GREEDY),
        "ucb1": UCB1Agent(k, seed, device),
        "thompson": ThompsonSamplingAgent(k, "bernoulli", seed, device),
        "gittins": GittinsIndexAgent(k, args.pulls, seed, device),
    }
    for path in args.rl2_run:
        run = load_rl2_run(path, device)
        if bandit_arms(run) != k or run.episodes != args.pulls:
            raise ValueError(
                f"--rl2-run {path!r} trained on {run.cfg.env.id} {dict(run.cfg.env.kwargs)} with trials of "
                f"{run.episodes}; allowed: {BANDIT} with num_arms={k} and trials of --pulls {args.pulls}"
            )
        agents[f"rl2 ({path})"] = run.agent
    results = [explore(name, agent, arm_probs, env, args.pulls, seed) for name, agent in agents.items()]
    env.close()
    print(f"{k}-armed Bernoulli bandits, trials of {args.pulls} pulls, {args.tasks} held-out tasks (means over tasks)")
    print(
        "| agent | total reward | expected regret | best arm, first tenth | best arm, last tenth "
        f"| arms tried in {2 * k} pulls | last pull on best |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in results:
        print(
            f"| {r.agent} | {r.total_reward:.1f} | {r.regret:.1f} | {r.best_share_first:.2f} | {r.best_share_last:.2f} "
            f"| {r.arms_tried_early:.2f} | {r.ends_on_best:.2f} |"
        )
    return results


if __name__ == "__main__":
    main()
