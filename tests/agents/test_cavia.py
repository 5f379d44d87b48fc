"""CAVIA end to end: context-only adaptation on the 2D navigation, the LEO-style encoder, configs."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from metarl.common.config import load_config
from metarl.report.adaptation import load_adaptation
from metarl.runner.evaluation import evaluate_adaptation
from metarl.runner.runs import make_run_dir
from metarl.runner.train import make_trainer, train

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "cavia" / "demo.yaml"
TINY = ["cavia.hidden_sizes=[8]", "cavia.meta_batch=2", "cavia.inner_episodes=2", "eval.episodes=4"]


def test_every_cavia_config_loads():
    configs = sorted((ROOT / "configs" / "cavia").glob("*.yaml"))
    assert {"navigation2d", "point_robot", "cheetah_vel", "cheetah_dir", "ant_dir"} <= {p.stem for p in configs}
    for path in configs:
        cfg = load_config(path)
        cavia = cfg.agent_config
        assert cfg.agent == "cavia" and cfg.env.id.startswith("metarl/")
        assert cfg.eval.episodes == cavia.inner_episodes * (cavia.meta_test_steps + 1), path


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("cavia.latent_encoder=true", ["cavia.inner_loss", "None", "'lvc'"]),
        ("cavia.context_dim=0", ["cavia.context_dim", "> 0"]),
        ("cavia.context_mode=add", ["cavia.context_mode", "add", "'film'"]),
        ("cavia.contxt_dim=3", ["cavia.contxt_dim", "did you mean 'cavia.context_dim'"]),
    ],
)
def test_config_errors_name_the_key(override, fragments, config_error):
    message = config_error(DEMO, override)
    for fragment in fragments:
        assert fragment in message


def test_cavia_adapts_on_navigation2d(tmp_path):
    """The demo config: on the 30 held-out goals, the 10 episodes after the inner step on the
    context clearly beat the 10 with the zero context (paired over tasks)."""
    cfg = load_config(DEMO, ["train.checkpoint_every=1000000"])
    trainer = train(cfg, make_run_dir(cfg, tmp_path / "run"))
    returns = load_adaptation(tmp_path / "run").returns  # (30 test tasks, 20 episodes)
    before, after = returns[:, :10].mean(1), returns[:, 10:].mean(1)
    gain = after - before
    assert gain.mean() > 8.0 and gain.mean() > 4 * gain.std(ddof=1) / np.sqrt(len(gain)), (before.mean(), after.mean())
    # Only the context adapts: the meta-test state holds one context per task, the network is shared.
    weights = {k: v.clone() for k, v in trainer.adaptation.state_dict().items()}
    rollout = evaluate_adaptation(trainer.agent, cfg.env.id, episodes=10, tasks=trainer.env.sample_tasks(3, seed=0))
    assert rollout.returns.shape == (3, 10)
    state = trainer.agent.begin_task(3)
    assert set(state.fast) == {"context"} and state.fast["context"].shape == (3, 2) and not state.fast["context"].any()
    assert all(torch.equal(v, weights[k]) for k, v in trainer.adaptation.state_dict().items())


@pytest.mark.parametrize("options", [["cavia.context_mode=film"], ["cavia.latent_encoder=true", "cavia.inner_loss=lvc"]])
def test_cavia_variants_train(options):
    cfg = load_config(DEMO, [*TINY, *options])
    trainer = make_trainer(cfg, torch.device("cpu"))
    before = {k: v.clone() for k, v in trainer.adaptation.state_dict().items()}
    for _ in range(2):
        metrics = trainer.train_iteration()
    assert all(math.isfinite(v) for v in metrics.values())
    after = trainer.adaptation.state_dict()
    moved = {k for k in before if not torch.equal(before[k], after[k])}
    prefix = "encoder." if cfg.agent_config.latent_encoder else "policy.film."
    assert any(k.startswith(prefix) for k in moved), moved  # the encoder / FiLM layer is meta-trained too


def test_encoder_proposes_the_first_context_from_the_first_episodes():
    cfg = load_config(DEMO, [*TINY, "cavia.latent_encoder=true", "cavia.inner_loss=lvc", "cavia.inner_episodes=1"])
    trainer = make_trainer(cfg, torch.device("cpu"))
    with torch.no_grad():
        trainer.adaptation.encoder.out.bias.fill_(0.5)  # a recognisable proposal
    calls = []
    original = trainer.adaptation.propose
    trainer.adaptation.propose = lambda fast, rollout: calls.append(rollout.obs.shape) or original(fast, rollout)
    tasks = trainer.env.sample_tasks(2, seed=0)
    evaluate_adaptation(trainer.agent, cfg.env.id, episodes=3, tasks=tasks, device="cpu")
    assert calls == [(100, 2, 1, 2)]  # once, on the first episode of each task, before the first step
