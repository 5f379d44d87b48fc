"""The shared training loop: the wall-clock budget ``train.max_minutes``; training time counted over
resumed sessions; training-task draws."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import metarl.runner.train
from metarl.common.checks import ConfigError
from metarl.common.config import load_config
from metarl.common.training_env import TrainingTasks
from metarl.report.adaptation import load_adaptation
from metarl.report.curves import learning_curve
from metarl.runner.runs import checkpoint_paths, load_checkpoint, make_run_dir
from metarl.runner.train import train

DEMO = Path(__file__).resolve().parents[2] / "configs" / "rl2" / "demo.yaml"
TINY = ["rl2.num_envs=4", "rl2.hidden_size=8", "rl2.ppo.epochs=1", "train.total_steps=1000000", "eval.episodes=2"]


class FakeClock:
    """``time.perf_counter`` that moves one minute each time it is read."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 60.0
        return self.now


def test_max_minutes_ends_training_with_a_checkpoint_and_an_evaluation(tmp_path, monkeypatch):
    monkeypatch.setattr(metarl.runner.train, "time", FakeClock())
    cfg = load_config(DEMO, TINY + ["train.max_minutes=3"])
    run = make_run_dir(cfg, tmp_path / "run")
    trainer = train(cfg, run)
    # The budget check and the bookkeeping read the clock, so a 3-minute budget allows one or two iterations.
    assert 0 < trainer.env_steps < cfg.train.total_steps
    assert load_checkpoint(run, cfg)["step"] == trainer.env_steps
    assert len(checkpoint_paths(run)) == 1
    assert load_adaptation(run).returns.shape[1] == cfg.eval.episodes


def logged(run: Path, tag: str) -> dict[int, float]:
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    return {e.step: e.value for e in events.Scalars(tag)}


def test_training_time_is_summed_over_sessions_without_the_pause_between(tmp_path, monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(metarl.runner.train, "time", clock)
    periodic = ["train.log_every=40", "train.checkpoint_every=80", "eval.every_steps=80"]
    cfg = load_config(DEMO, TINY + periodic + ["train.total_steps=160"])
    run = make_run_dir(cfg, tmp_path / "run")
    train(cfg, run)
    first = logged(run, "perf/train_seconds")
    saved = load_checkpoint(run, cfg)["state"]["train_seconds"]
    assert max(first.values()) < saved  # the final checkpoint follows the final log and evaluation

    clock.now += 1e6  # a long pause before --resume
    longer = load_config(DEMO, TINY + periodic + ["train.total_steps=320"])
    train(longer, run, resume=True)
    seconds = logged(run, "perf/train_seconds")
    later = {step: s for step, s in seconds.items() if step > 160}
    assert later and all(saved < s < saved + 1e5 for s in later.values())
    values = [seconds[step] for step in sorted(seconds)]
    assert values == sorted(values)
    # metarl curve reports the evaluations against training time, not time since the first event.
    curve = learning_curve(run)
    assert curve.steps == [80, 160, 240, 320]
    assert curve.seconds == [pytest.approx(seconds[step]) for step in curve.steps]


@pytest.mark.parametrize("value", ["0", "-1.5"])
def test_max_minutes_must_be_positive(value):
    message = rf"train.max_minutes={float(value)} is not allowed; allowed: null or a number > 0"
    with pytest.raises(ConfigError, match=message):
        load_config(DEMO, [f"train.max_minutes={value}"])


def goals(tasks) -> np.ndarray:
    """The goals of a draw, whether a list of tasks or a stacked batch, as a numpy array."""
    return np.stack([t["goal"] for t in tasks]) if isinstance(tasks, list) else np.asarray(tasks["goal"].cpu())


@pytest.mark.parametrize("source", ["distribution", "train_set"])
def test_training_tasks_are_reproducible_and_come_from_their_source(source):
    env = gym.make_vec("metarl/PointRobot-v0", num_envs=64, vectorization_mode="vector_entry_point", device="cpu")
    draws = [TrainingTasks(env, source, torch.Generator().manual_seed(3)) for _ in range(2)]
    first, again = goals(draws[0].draw()), goals(draws[1].draw())
    assert first.shape == (64, 2)
    np.testing.assert_array_equal(first, again)  # same generator seed, same tasks
    assert not np.array_equal(first, goals(draws[0].draw()))  # the next draw is new
    train_goals = {tuple(g) for g in goals(env.task_set("train"))}
    in_train_set = [tuple(g) in train_goals for g in first]
    if source == "train_set":
        assert all(in_train_set)
        assert len({tuple(g) for g in first}) > 1  # uniform over the set, not one task repeated
    else:
        assert not any(in_train_set)  # fresh draws from the continuous distribution
    env.set_tasks(draws[0].draw())  # a draw is what set_tasks takes
    env.close()


def test_a_drawn_batch_is_validated_once_where_it_enters(monkeypatch):
    env = gym.make_vec("metarl/PointRobot-v0", num_envs=8, vectorization_mode="vector_entry_point", device="cpu")
    batch = TrainingTasks(env, "distribution", torch.Generator().manual_seed(0)).draw()
    assert batch.validated_by is env.family and batch.n == 8

    def no_second_check(_batch):
        raise AssertionError("a batch the family validated was checked again")

    monkeypatch.setattr(env.family, "validate_task_batch", no_second_check)
    env.set_tasks(batch)  # taken as it is: tensors, no list of dicts, no second check
    torch.testing.assert_close(env.get_tasks()["goal"], batch["goal"])
    with pytest.raises(TypeError, match="read-only"):
        batch["goal"] = torch.zeros(8, 2)  # a validated batch cannot be changed behind the check
    with pytest.raises(AssertionError, match="checked again"):
        env.set_tasks({"goal": batch["goal"] * 0.5})  # a plain dict is still validated
    env.close()


def test_training_tasks_refuse_an_unknown_source():
    env = gym.make_vec("metarl/PointRobot-v0", num_envs=2, vectorization_mode="vector_entry_point", device="cpu")
    with pytest.raises(ValueError, match="'test'.*distribution, train_set"):
        TrainingTasks(env, "test", torch.Generator())
