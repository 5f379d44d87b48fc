"""The task-conditioned oracle: task features, the hypernetwork, the TaskAware hook, resume, config
errors, and the acceptance test (the oracle beats the no-task-information baseline on held-out tasks)."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from gymnasium import spaces
from metarl.agents.oracle import HyperActorCritic, OracleAgent, PolicyAgent, TaskFeatures, make_oracle_trainer
from metarl.agents.oracle.hypernetwork import apply_generated
from metarl.agents.oracle.learner import stratified_minibatches

from metarl import cli
from metarl.common.config import load_config
from metarl.common.protocol import TaskAware
from metarl.report.adaptation import load_adaptation
from metarl.report.results import mean_ci
from metarl.runner.evaluation import evaluate_adaptation
from metarl.runner.runs import checkpoint_paths, make_run_dir
from metarl.runner.train import train

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs" / "oracle"
NAV = CONFIGS / "navigation2d.yaml"
TINY = ["device=cpu", "oracle.num_envs=8", "oracle.num_steps=50", "oracle.hidden_sizes=[16, 16]", "oracle.hyper_hidden=8",
        "oracle.hyper_embed_dim=4", "oracle.ppo.epochs=2", "oracle.ppo.num_minibatches=2", "train.log_every=100",
        "eval.episodes=1"]  # fmt: skip


def test_every_oracle_config_loads_with_its_conditioning():
    configs = sorted(CONFIGS.glob("*.yaml"))
    assert len(configs) == 15
    for path in configs:
        cfg = load_config(path)
        suffix = path.stem.rsplit("_", 1)[-1]
        expected = suffix if suffix in ("hypernetwork", "none") else "concat"
        assert cfg.agent == "oracle" and cfg.agent_config.conditioning == expected, path.name
    envs = {load_config(p).env.id for p in configs}
    assert envs == {f"metarl/{n}-v0" for n in ("Navigation2D", "PointRobot", "HalfCheetahVel", "HalfCheetahDir", "AntDir")}


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("oracle.conditioning=film", ["oracle.conditioning", "film", "'concat'", "'hypernetwork'", "'none'"]),
        ("oracle.hidden_sizes=[]", ["oracle.hidden_sizes", "non-empty list"]),
        ("oracle.ppo.epochs=0", ["oracle.ppo.epochs", "0", "> 0"]),
        ("oracle.num_envz=4", ["oracle.num_envz", "did you mean 'oracle.num_envs'"]),
        ("oracle.task_source=test", ["oracle.task_source", "'distribution'", "'train_set'"]),
        ("oracle.num_steps=0", ["oracle.num_steps", "null or an integer >= 1"]),
    ],
)
def test_config_errors_name_the_key_and_what_is_allowed(override, fragments, config_error):
    message = config_error(NAV, override)
    for fragment in fragments:
        assert fragment in message


# ----- task features -------------------------------------------------------------------------------
def test_task_features_flatten_every_parameter_and_scale_finite_bounds():
    space = spaces.Dict(
        {
            "goal": spaces.Box(-1.0, 3.0, (2,), np.float32),
            "means": spaces.Box(-np.inf, np.inf, (2, 2), np.float32),
            "cell": spaces.MultiDiscrete([5, 3]),
            "arm": spaces.Discrete(4, start=1),
        }
    )
    tasks = {
        "goal": torch.tensor([[-1.0, 3.0], [1.0, 0.0]]),
        "means": torch.arange(8.0).view(2, 2, 2),
        "cell": torch.tensor([[4, 0], [2, 1]]),
        "arm": torch.tensor([1, 4]),
    }
    x = TaskFeatures(space)(tasks)
    # in the task space's (sorted) order: arm from [1, 4], cell from [0, 4] x [0, 2], goal from [-1, 3],
    # means as they are (infinite bounds)
    expected = torch.tensor([[-1.0, 1.0, -1.0, -1.0, 1.0, 0, 1, 2, 3], [1.0, 0.0, 0.0, 0.0, -0.5, 4, 5, 6, 7]])
    torch.testing.assert_close(x, expected)
    raw = TaskFeatures(space, normalize=False)(tasks)
    torch.testing.assert_close(raw[:, 3:5], tasks["goal"])
    with pytest.raises(ValueError, match=r"lack the parameters \['arm'\]"):
        TaskFeatures(space)({k: v for k, v in tasks.items() if k != "arm"})


# ----- hypernetwork --------------------------------------------------------------------------------
def make_hyper(obs_dim=3, task_dim=2, hidden=(32, 32)):
    torch.manual_seed(0)
    return HyperActorCritic(obs_dim, task_dim, spaces.Box(-1.0, 1.0, (2,)), list(hidden), "tanh", 0.0, 16, 8)


def test_hypernetwork_gives_each_task_its_own_weights_and_the_batched_layers_equal_a_per_task_loop():
    net = make_hyper()
    features = torch.tensor([[0.5, -0.5], [-0.9, 0.2], [0.1, 0.8]])
    condition = net.condition(features)
    assert [tuple(t.shape) for t in condition] == [(3, 32, 3), (3, 32), (3, 32, 32), (3, 32)] * 2  # actor, critic
    first_weight = condition[0]
    assert not torch.allclose(first_weight[0], first_weight[1]), "two different tasks must get different weights"
    torch.testing.assert_close(net.condition(features[[1]])[0][0], first_weight[1])  # a task's weights do not depend on the batch

    obs = torch.randn(5, 3, 3)  # (steps, tasks, obs_dim): column i belongs to task i
    dist, value = net(obs, condition)
    for i in range(3):  # the same task alone, through plain per-task linear layers
        w = [t[i] for t in condition]
        actor = torch.tanh(F.linear(torch.tanh(F.linear(obs[:, i], w[0], w[1])), w[2], w[3]))
        critic = torch.tanh(F.linear(torch.tanh(F.linear(obs[:, i], w[4], w[5])), w[6], w[7]))
        torch.testing.assert_close(dist.mean[:, i], net.head.linear(actor))
        torch.testing.assert_close(value[:, i], net.value(critic).squeeze(-1))
    torch.testing.assert_close(apply_generated(obs[0], condition[0], condition[1]), torch.einsum("noi,ni->no", condition[0], obs[0]) + condition[1])


def test_hyperfan_in_init_gives_every_task_a_standard_scale_layer_and_sane_initial_outputs():
    net = make_hyper(obs_dim=64, hidden=(256, 256))
    features = torch.rand(200, 2) * 2 - 1
    w1, b1 = net.condition(features)[:2]
    # per task: Var(W) = gain^2 / (2 fan_in) and Var(b) = gain^2 / 2 with gain sqrt(2)
    w_var, b_var = w1.var(dim=(1, 2)), b1.var(dim=1)
    assert abs(w_var.mean() * 64 - 1) < 0.1 and w_var.sub(1 / 64).abs().max() < 0.2 / 64
    assert abs(b_var.mean() - 1) < 0.1 and b_var.sub(1).abs().max() < 0.5
    dist, value = net(torch.randn(200, 64), net.condition(features))
    assert dist.mean.abs().max() < 0.1  # the action head's 0.01 gain: initial means near 0 for every task
    assert torch.isfinite(value).all() and value.abs().max() < 10


def test_stratified_minibatches_cover_every_step_of_every_sub_env_once():
    parts = stratified_minibatches(10, 4, 3, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert [p.shape for p in parts] == [(4, 4), (3, 4), (3, 4)]
    steps = torch.cat(parts)
    assert all(torch.equal(steps[:, i].sort().values, torch.arange(10)) for i in range(4))


# ----- agents through the evaluation interface --------------------------------------------------------------
def tiny_trainer(conditioning):
    cfg = load_config(NAV, [*TINY, f"oracle.conditioning={conditioning}"])
    return make_oracle_trainer(cfg, torch.device("cpu"))


def test_the_oracle_is_task_aware_and_the_baseline_is_not():
    oracle, blind = tiny_trainer("concat").agent, tiny_trainer("none").agent
    assert isinstance(oracle, OracleAgent) and isinstance(oracle, TaskAware) and oracle.name == "oracle-concat"
    assert isinstance(blind, PolicyAgent) and not isinstance(blind, TaskAware) and blind.name == "ppo-multitask"
    with pytest.raises(RuntimeError, match="set_tasks"):
        oracle.begin_task(2)
    oracle.set_tasks({"goal": torch.zeros(3, 2)})
    with pytest.raises(ValueError, match=r"begin_task\(2\) after set_tasks with 3 tasks"):
        oracle.begin_task(2)


@pytest.mark.parametrize("conditioning", ["concat", "hypernetwork"])
def test_evaluation_gives_the_oracle_the_true_tasks(conditioning):
    """An untrained oracle's first action depends on its sub-env's task, given through set_tasks."""
    agent = tiny_trainer(conditioning).agent
    with torch.no_grad():
        agent.net.head.linear.weight.mul_(100.0)  # make the 0.01-gain initial means visible
    goals = torch.tensor([[0.4, 0.4], [-0.4, 0.4], [0.4, 0.4]])
    agent.set_tasks({"goal": goals})
    actions, _ = agent.act(torch.zeros(3, 2), agent.begin_task(3), deterministic=True)
    assert torch.equal(actions[0], actions[2]) and not torch.equal(actions[0], actions[1])
    result = evaluate_adaptation(agent, "metarl/Navigation2D-v0", tasks=[{"goal": g.numpy()} for g in goals], episodes=1)
    assert result.returns[0, 0] == result.returns[2, 0] != result.returns[1, 0]


# ----- checkpoints ---------------------------------------------------------------------------------
@pytest.mark.parametrize("conditioning", ["hypernetwork"])  # concat, the config's: tests/test_agent_contracts.py
def test_resume_after_interruption_continues_identically(conditioning, tmp_path, crash_after_first_checkpoint):
    """Kill training right after a checkpoint, resume: the finished run equals an uninterrupted one."""
    cfg = load_config(NAV, [*TINY, f"oracle.conditioning={conditioning}", "train.total_steps=2000", "train.checkpoint_every=800"])
    full = train(cfg, make_run_dir(cfg, tmp_path / "full"))

    run = make_run_dir(cfg, tmp_path / "crashed")
    assert 800 <= crash_after_first_checkpoint(cfg, run) < 2000

    resumed = train(cfg, run, resume=True)
    assert (resumed.env_steps, resumed.iterations, resumed.updates) == (full.env_steps, full.iterations, full.updates)
    assert resumed.episode_returns[-8:] == full.episode_returns[-8:]
    for (name, p), q in zip(resumed.agent.state_dict().items(), full.agent.state_dict().values()):
        assert torch.equal(p, q), f"{name} differs after resume"
    torch.testing.assert_close(resumed.agent.obs_rms.var, full.agent.obs_rms.var, rtol=0, atol=0)
    torch.testing.assert_close(resumed.reward_scaler.rms.var, full.reward_scaler.rms.var, rtol=0, atol=0)
    np.testing.assert_array_equal(load_adaptation(run).returns, load_adaptation(tmp_path / "full").returns)


def test_train_cli_writes_a_run_that_evaluate_reloads(tmp_path, capsys):
    """``metarl train`` then ``metarl evaluate`` (in-process): the checkpoint restores the policy and
    its observation statistics, so re-evaluating the test tasks gives the same returns."""
    run = tmp_path / "run"
    config = str(CONFIGS / "point_robot_hypernetwork.yaml")
    assert cli.main(["train", config, *TINY, "train.total_steps=800", "--run-dir", str(run)]) == 0
    trained = load_adaptation(run)
    assert checkpoint_paths(run) and trained.agent == "oracle-hypernetwork"
    assert cli.main(["evaluate", str(run), "--episodes", "1"]) == 0
    (again,) = (run / "eval").glob("test-1ep-step*")
    np.testing.assert_array_equal(load_adaptation(again).returns, trained.returns)
    assert cli.main(["evaluate", str(run), "--tasks", "ood", "--episodes", "2"]) == 0
    (ood,) = (run / "eval").glob("ood-2ep-step*")
    assert "(ood tasks)" in capsys.readouterr().out and load_adaptation(ood).returns.shape == (30, 2)


# ----- the acceptance test -------------------------------------------------------------------------
def test_the_oracle_beats_the_no_task_information_baseline_on_held_out_navigation_tasks(tmp_path):
    """Navigation2D's 30 held-out goals: after the same short training (40k env steps), both oracles
    (concat and hypernetwork) have mean returns whose 95% intervals lie far above the baseline's,
    and they beat it on nearly every task. A blind policy cannot know where the goal is: it can do
    little better than stay near the centre of the goal distribution (about -38 over 100 steps)."""
    budget = ["device=cpu", "train.total_steps=40000", "train.checkpoint_every=1000000", "eval.episodes=1"]
    returns = {}
    for conditioning in ("none", "concat", "hypernetwork"):
        cfg = load_config(NAV, [*budget, f"oracle.conditioning={conditioning}"])
        train(cfg, make_run_dir(cfg, tmp_path / conditioning))
        returns[conditioning] = load_adaptation(tmp_path / conditioning).returns[:, 0]
    (base,), (base_low,), (base_high,) = mean_ci(returns["none"][:, None])
    assert base < -20, base
    for conditioning in ("concat", "hypernetwork"):
        (mean,), (low,), (high,) = mean_ci(returns[conditioning][:, None])
        assert low > base_high + 10, (conditioning, (mean, low, high), (base, base_low, base_high))
        assert (returns[conditioning] > returns["none"]).mean() >= 0.9
        assert mean > -10 and not math.isnan(low)
