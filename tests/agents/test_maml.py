"""MAML (with ProMP and Meta-SGD) end to end: learning on the 2D navigation, checkpoints, resume, configs."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from metarl.common.config import load_config
from metarl.report.adaptation import load_adaptation
from metarl.runner.runs import checkpoint_paths, load_checkpoint, make_run_dir
from metarl.runner.train import make_trainer, train

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "maml" / "demo.yaml"
# 2 tasks x 2 episodes x 100 steps x 2 (before/after) = 800 steps per meta-batch.
TINY = ["maml.hidden_sizes=[8]", "maml.meta_batch=2", "maml.inner_episodes=2", "train.log_every=800", "eval.episodes=4"]


def test_every_maml_config_loads():
    configs = sorted((ROOT / "configs" / "maml").glob("*.yaml"))
    names = {p.stem for p in configs}
    assert {"navigation2d", "point_robot", "cheetah_vel", "cheetah_dir", "ant_dir", "meta_sgd_navigation2d"} <= names
    assert {"promp_navigation2d", "promp_cheetah_vel", "promp_cheetah_dir", "promp_ant_dir"} <= names
    for path in configs:
        cfg = load_config(path)
        maml = cfg.agent_config
        assert cfg.agent == "maml" and cfg.env.id.startswith("metarl/")
        assert maml.inner_objective == ("lvc" if path.stem.startswith("promp") else "reinforce")
        assert cfg.eval.episodes == maml.inner_episodes * (maml.meta_test_steps + 1), path  # before and after each step


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("maml.outer=sgd", ["maml.outer", "sgd", "'trpo'"]),
        ("maml.inner_lr=0", ["maml.inner_lr", "> 0"]),
        ("maml.hidden_sizes=[]", ["maml.hidden_sizes", "non-empty"]),
        ("maml.trpo.max_kl=-1", ["maml.trpo.max_kl", "-1", "> 0"]),
        ("maml.meta_sgdd=true", ["maml.meta_sgdd", "did you mean 'maml.meta_sgd'"]),
        ("maml.inner_loss=dice", ["maml.inner_loss", "dice", "'lvc'"]),
        ("maml.test_inner_steps=-1", ["maml.test_inner_steps", ">= 0"]),
    ],
)
def test_config_errors_name_the_key(override, fragments, config_error):
    message = config_error(DEMO, override)
    for fragment in fragments:
        assert fragment in message


def test_maml_adapts_on_navigation2d(tmp_path):
    """The demo config: on the 30 held-out goals, the 10 episodes after the inner step clearly beat
    the 10 before it (paired over tasks), through the shared train/evaluate path."""
    cfg = load_config(DEMO, ["train.checkpoint_every=1000000"])
    train(cfg, make_run_dir(cfg, tmp_path / "run"))
    returns = load_adaptation(tmp_path / "run").returns  # (30 test tasks, 20 episodes)
    assert returns.shape == (30, 20)
    before, after = returns[:, :10].mean(1), returns[:, 10:].mean(1)
    gain = after - before
    assert gain.mean() > 8.0 and gain.mean() > 4 * gain.std(ddof=1) / np.sqrt(len(gain)), (before.mean(), after.mean())


@pytest.mark.parametrize("outer", ["ppo", "promp"])
def test_clipped_outer_steps_train(outer):
    cfg = load_config(DEMO, [*TINY, f"maml.outer={outer}", "device=cpu"])
    trainer = make_trainer(cfg, torch.device("cpu"))
    before = [p.detach().clone() for p in trainer.adaptation.parameters()]
    metrics = trainer.train_iteration()
    assert all(math.isfinite(v) for v in metrics.values())
    assert ("losses/inner_kl" in metrics) == (outer == "promp") and cfg.agent_config.inner_objective == (
        "lvc" if outer == "promp" else "reinforce"
    )
    assert any(not torch.equal(a, b) for a, b in zip(before, trainer.adaptation.parameters()))


def test_meta_sgd_learns_its_rates_and_checkpoints_them(tmp_path):
    cfg = load_config(DEMO, [*TINY, "maml.meta_sgd=true", "train.total_steps=1600", "train.checkpoint_every=100000"])
    trainer = train(cfg, make_run_dir(cfg, tmp_path / "run"))
    rates = [lr.detach().clone() for lr in trainer.adaptation.inner_lrs]
    assert all(r.shape == p.shape for r, p in zip(rates, trainer.adaptation.policy.parameters()))
    assert any((r - 0.1).abs().max() > 1e-4 for r in rates), "the outer loop must move the learning rates"
    (saved,) = checkpoint_paths(tmp_path / "run")
    fresh = make_trainer(cfg, torch.device("cpu"))
    assert all(torch.all(lr == 0.1) for lr in fresh.adaptation.inner_lrs)
    fresh.load_state_dict(load_checkpoint(saved)["state"]["trainer"])
    for restored, learned in zip(fresh.adaptation.inner_lrs, rates):
        assert torch.equal(restored, learned)


@pytest.mark.parametrize("outer", ["promp"])  # trpo, the demo's: tests/test_agent_contracts.py
def test_resume_after_interruption_continues_with_nothing_lost(tmp_path, crash_after_first_checkpoint, outer):
    cfg = load_config(DEMO, [*TINY, f"maml.outer={outer}", "train.total_steps=4000", "train.checkpoint_every=1600"])
    full = train(cfg, make_run_dir(cfg, tmp_path / "full"))

    run = make_run_dir(cfg, tmp_path / "crashed")
    assert 1600 <= crash_after_first_checkpoint(cfg, run) < 4000

    resumed = train(cfg, run, resume=True)
    assert (resumed.env_steps, resumed.iterations) == (full.env_steps, full.iterations)
    for (name, p), q in zip(resumed.adaptation.state_dict().items(), full.adaptation.state_dict().values()):
        assert torch.equal(p, q), f"{name} differs after resume"
    np.testing.assert_array_equal(load_adaptation(run).returns, load_adaptation(tmp_path / "full").returns)
