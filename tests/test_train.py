"""The shared training loop: the wall-clock budget ``train.max_minutes``."""

from pathlib import Path

import pytest

import metarl.train
from metarl.config import ConfigError, load_config
from metarl.evaluation import load_adaptation
from metarl.runs import checkpoint_paths, load_checkpoint, make_run_dir
from metarl.train import train

DEMO = Path(__file__).resolve().parents[1] / "configs" / "rl2" / "demo.yaml"
TINY = ["rl2.num_envs=4", "rl2.hidden_size=8", "rl2.ppo.epochs=1", "train.total_steps=1000000", "eval.episodes=2"]


class FakeClock:
    """``time.perf_counter`` that moves one minute each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 60.0
        return self.now


def test_max_minutes_ends_training_with_a_checkpoint_and_an_evaluation(tmp_path, monkeypatch):
    monkeypatch.setattr(metarl.train, "time", FakeClock())
    cfg = load_config(DEMO, TINY + ["train.max_minutes=3"])
    run = make_run_dir(cfg, tmp_path / "run")
    trainer = train(cfg, run)
    # Each loop pass reads the clock at most twice, so a 3-minute budget allows one or two iterations.
    assert 0 < trainer.env_steps < cfg.train.total_steps
    assert load_checkpoint(run, cfg)["step"] == trainer.env_steps
    assert len(checkpoint_paths(run)) == 1
    assert load_adaptation(run).returns.shape[1] == cfg.eval.episodes


@pytest.mark.parametrize("value", ["0", "-1.5"])
def test_max_minutes_must_be_positive(value):
    message = rf"train.max_minutes={float(value)} is not allowed; allowed: null or a number > 0"
    with pytest.raises(ConfigError, match=message):
        load_config(DEMO, [f"train.max_minutes={value}"])
