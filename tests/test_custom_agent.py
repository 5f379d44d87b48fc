"""docs/architecture.md's recipe for an agent of one's own, followed from outside the package: a
module named in the config's ``imports`` registers it, and ``metarl train`` trains, evaluates
and resumes it like a built-in agent."""

from __future__ import annotations

import json
import textwrap

from metarl import cli

AGENT = '''
"""A learner that only explores: the smallest agent the runner can train."""
from dataclasses import dataclass

import torch

from metarl.common.agent_registry import register_agent
from metarl.common.checks import check
from metarl.common.protocol import RandomAgent
from metarl.common.state import Checkpointable
from metarl.common.training_env import make_training_env
from metarl.common.trials import trial_steps


@dataclass
class WanderConfig:
    num_envs: int = 4

    def __post_init__(self):
        check(self.num_envs >= 1, "num_envs", self.num_envs, "an integer >= 1")


class WanderLearner(Checkpointable):
    state_fields = {"generator": "generator", "env_steps": "env_steps", "episode_returns": "episode_returns"}

    def __init__(self, run, device):
        self.env = make_training_env(run, run.agent_config.num_envs, device)
        self.agent = RandomAgent(self.env.single_action_space, run.seed, device)
        self.generator = torch.Generator().manual_seed(run.seed)
        self.env_steps, self.episode_returns = 0, []

    def train_iteration(self):
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator))
        act = lambda obs: (self.agent.act(obs, None, False)[0], {})
        for step in trial_steps(self.env, act, episodes=1, seed=seed):
            self.env_steps += self.env.num_envs
            self.episode_returns += step.episode_return[step.episode_return.isfinite()].tolist()
        return {"charts/wandered": 1.0}


register_agent("wander", WanderConfig, lambda run, device: WanderLearner(run, device))
'''


def test_an_agent_registered_from_outside_trains_evaluates_and_resumes(tmp_path, capsys):
    (tmp_path / "wander_agent.py").write_text(AGENT)
    config = tmp_path / "wander.yaml"
    config.write_text(textwrap.dedent(f"""\
        agent: wander
        env: {{id: metarl/PointRobot-v0}}
        imports: [wander_agent]
        python_path: [{tmp_path}]
        train: {{total_steps: 160, checkpoint_every: 80, log_every: 40}}
        eval: {{episodes: 2}}
        wander: {{num_envs: 2}}
        """))
    run = tmp_path / "run"
    assert cli.main(["train", str(config), "--run-dir", str(run)]) == 0
    curve = json.loads((run / "eval" / "adaptation.json").read_text())
    assert curve["agent"] == "random" and curve["step"] == 160 and len(curve["per_episode"]) == 2
    assert cli.main(["train", "--resume", str(run), "train.total_steps=240"]) == 0
    assert json.loads((run / "eval" / "adaptation.json").read_text())["step"] == 240
    capsys.readouterr()
    assert cli.main(["train", str(config), "wander.num_envs=0", "--run-dir", str(tmp_path / "bad")]) == 2
    assert "wander.num_envs=0" in capsys.readouterr().err and not (tmp_path / "bad").exists()
