"""PEARL end to end: learning on the point robot, resume after an interruption, config errors."""

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml
from metarl.agents.pearl.config import check_whole_episodes

import metarl  # noqa: F401  (registers the families)
from metarl import cli
from metarl.common.config import load_config
from metarl.report.adaptation import load_adaptation
from metarl.runner.evaluation import evaluate_adaptation
from metarl.runner.runs import checkpoint_paths, checkpoint_step, latest_checkpoint, make_run_dir
from metarl.runner.train import make_trainer, train

ROOT = Path(__file__).resolve().parents[2]
POINT = ROOT / "configs" / "pearl" / "point_robot.yaml"
TINY = [
    "device=cpu", "pearl.hidden_size=32", "pearl.encoder_hidden_size=32", "pearl.meta_batch=4",
    "pearl.batch_size=32", "pearl.context_batch_size=16", "pearl.initial_steps=20", "pearl.prior_steps=40",
    "pearl.extra_posterior_steps=40", "pearl.updates_per_iteration=3", "pearl.replay_capacity=500",
    "train.log_every=100", "eval.episodes=2",
]  # fmt: skip


def test_every_pearl_config_loads_and_collects_whole_episodes():
    configs = sorted((ROOT / "configs" / "pearl").glob("*.yaml"))
    assert len(configs) >= 9
    for path in configs:
        cfg = load_config(path)
        assert cfg.agent == "pearl" and cfg.env.id.startswith("metarl/")
        horizon = cfg.env.kwargs.get("max_episode_steps", gym.spec(cfg.env.id).max_episode_steps)
        check_whole_episodes(cfg.agent_config, horizon)  # what building its trainer checks first


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("pearl.kl_lambda=-1", ["pearl.kl_lambda", "-1", ">= 0"]),
        ("pearl.lattent_dim=3", ["pearl.lattent_dim", "did you mean 'pearl.latent_dim'"]),
        ("pearl.meta_batch=many", ["pearl.meta_batch", "many", "int"]),
        ("eval.split=val", ["eval.split", "val"]),
    ],
)
def test_config_errors_name_the_key_before_any_work(override, fragments, config_error, train_cli_refusal):
    message = config_error(POINT, override)
    for fragment in fragments:
        assert fragment in message
    assert fragments[0] in train_cli_refusal(POINT, override)


def test_initial_collection_fills_every_training_task_in_one_batched_pass():
    learner = make_trainer(load_config(POINT, TINY), torch.device("cpu"))
    cfg, n = learner.cfg, learner.train_tasks.n
    made, make = [], learner.make_initial_env

    def recorded_initial_env():
        env = make()
        made.append((env, record_steps(env)))
        return env

    learner.make_initial_env = recorded_initial_env
    learner.collect_iteration(first=True)
    ((initial_env, steps),) = made  # made once
    assert len(steps) == cfg.initial_steps and all(action.shape[0] == n for action in steps)  # batched, no loop over tasks
    assert int(learner.replay.size.min()) == cfg.initial_steps and initial_env.closed  # closed once used
    per_iteration = cfg.tasks_per_iteration * (cfg.prior_steps + cfg.extra_posterior_steps)
    assert learner.env_steps == n * cfg.initial_steps + per_iteration


def record_steps(env):
    """Wrap ``env.step`` to record the actions it was given."""
    actions, step = [], env.step
    env.step = lambda action: actions.append(action) or step(action)
    return actions


def test_train_cli_writes_a_complete_run_directory(tmp_path):
    run = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "metarl.cli", "train", str(POINT), *TINY, "train.total_steps=4500",
         "eval.every_steps=1000", "--run-dir", str(run)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "episode" in out and "95% CI" in out
    assert yaml.safe_load((run / "config.yaml").read_text())["pearl"]["hidden_size"] == 32
    assert list(run.glob("events.out.tfevents.*")) and checkpoint_paths(run)
    for name in ("adaptation.csv", "adaptation.json", "adaptation.png"):
        assert (run / "eval" / name).stat().st_size > 0
    out = subprocess.run(
        [sys.executable, "-m", "metarl.cli", "evaluate", str(run), "--tasks", "ood", "--episodes", "3"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    (ood,) = (run / "eval").glob("ood-3ep-step*")
    assert "(ood tasks)" in out and load_adaptation(ood).returns.shape == (30, 3)
    subprocess.run(
        [sys.executable, "-m", "metarl.cli", "plot", str(run), str(run), "--out", str(tmp_path / "cmp.png")], check=True
    )
    assert (tmp_path / "cmp.png").stat().st_size > 0
    curve = subprocess.run(
        [sys.executable, "-m", "metarl.cli", "curve", str(run), "--target=-1e9"], capture_output=True, text=True, check=True
    ).stdout
    table = curve.splitlines()[3:-1]
    steps = [int(line.split()[0].replace(",", "")) for line in table]
    minutes = [float(line.split()[1]) for line in table]
    assert len(steps) >= 2 and steps == sorted(steps), curve  # periodic evaluations and the final one
    assert minutes == sorted(minutes) and minutes[0] >= 0, curve
    assert f"reached -1000000000.0 at {steps[0]:,} env steps" in curve, curve  # any return beats -1e9
    never = subprocess.run(
        [sys.executable, "-m", "metarl.cli", "curve", str(run), "--target", "1e9"], capture_output=True, text=True, check=True
    ).stdout
    assert "never reached 1000000000.0" in never, never


def test_resume_cli_takes_a_longer_budget_and_refuses_any_other_change(tmp_path, capsys):
    run = tmp_path / "run"
    assert cli.main(["train", str(POINT), *TINY, "train.total_steps=600", "--run-dir", str(run)]) == 0
    config = (run / "config.yaml").read_text()
    assert cli.main(["train", "--resume", str(run), "pearl.hidden_size=64"]) == 2
    assert "only train.* keys" in capsys.readouterr().err
    assert cli.main(["train", "--resume", str(run), str(POINT)]) == 2
    assert "takes no CONFIG" in capsys.readouterr().err
    assert (run / "config.yaml").read_text() == config, "a refused resume must leave the run untouched"
    assert cli.main(["train", "--resume", str(run), "train.total_steps=1.2e3"]) == 0
    assert load_config(run / "config.yaml").train.total_steps == 1200  # later resumes see the new budget
    assert checkpoint_step(latest_checkpoint(run)) >= 1200

DEMO = ROOT / "configs" / "pearl" / "demo.yaml"


def test_pearl_adapts_on_the_point_robot(tmp_path):
    """The README demo's settings on about half its budget (45k env steps, under 3 CPU minutes):
    posterior-sampled episodes beat the prior episode and a random policy on the 30 held-out tasks.
    The demo itself, over seeds, is ``benchmarks/demo_seeds.py``."""
    cfg = load_config(DEMO, ["train.total_steps=45000", "train.checkpoint_every=1000000"])
    trainer = train(cfg, make_run_dir(cfg, tmp_path / "run"))
    returns = load_adaptation(tmp_path / "run").returns  # (30 test tasks, 3 episodes)
    from metarl.common.protocol import RandomAgent

    random_returns = evaluate_adaptation(
        RandomAgent(trainer.env.single_action_space, seed=0), "metarl/PointRobot-v0", episodes=1
    ).returns[:, 0]
    prior, adapted = returns[:, 0], returns[:, 1:].mean(1)
    gain = adapted - prior
    # paired comparison over the 30 held-out tasks: the mean gain is clearly positive
    assert gain.mean() > 1.0 and gain.mean() > 2 * gain.std(ddof=1) / np.sqrt(len(gain)), (prior.mean(), adapted.mean())
    assert adapted.mean() > random_returns.mean() + 3.0


def test_a_checkpoint_with_separate_twin_q_functions_loads_into_the_ensemble():
    """Runs trained before the twin Q-functions became one ensemble resume: their qf1/qf2 weights
    and Adam moments are stacked into it."""
    first = make_trainer(load_config(POINT, TINY), torch.device("cpu"))
    first.train_iteration()
    state = first.state_dict()
    # The same state in the earlier layout: nn.Sequential Linear layers at 0, 2, 4, 6 per member.
    old_agent = {k: v for k, v in state["agent"].items() if not k.startswith("qf.")}
    old_moments, n = {}, len(first.agent.qf.layers)
    for i in range(n):
        for j, kind in enumerate(("weight", "bias")):
            stacked = state["agent"][f"qf.layers.{i}.{kind}"]
            moment = state["optimizers"]["qf"]["state"][2 * i + j]
            for m in (0, 1):
                unshape = (lambda t: t.T) if kind == "weight" else (lambda t: t[0])
                old_agent[f"qf{m + 1}.{2 * i}.{kind}"] = unshape(stacked[m])
                old_moments[m * 2 * n + 2 * i + j] = {
                    "step": moment["step"], **{k: unshape(moment[k][m]) for k in ("exp_avg", "exp_avg_sq")}
                }
    groups = [{**state["optimizers"]["qf"]["param_groups"][0], "params": list(range(4 * n))}]
    old = {**state, "agent": old_agent,
           "optimizers": {**state["optimizers"], "qf": {"state": old_moments, "param_groups": groups}}}  # fmt: skip
    second = make_trainer(load_config(POINT, TINY), torch.device("cpu"))
    second.load_state_dict(old)
    for (name, a), b in zip(first.agent.state_dict().items(), second.agent.state_dict().values()):
        assert torch.equal(a, b), name
    for a, b in zip(first.optimizers["qf"].state.values(), second.optimizers["qf"].state.values()):
        assert torch.equal(a["exp_avg"], b["exp_avg"]) and torch.equal(a["exp_avg_sq"], b["exp_avg_sq"])


def test_a_collection_that_cuts_episodes_is_refused_before_the_run_directory(train_cli_refusal):
    """Each env collects whole episodes, as oyster's sampler: 200 steps over 3 envs of 20-step
    episodes would leave episodes unfinished."""
    message = train_cli_refusal(POINT, "pearl.envs_per_task=3")
    assert "pearl.initial_steps=200" in message and "a multiple of 60" in message, message
