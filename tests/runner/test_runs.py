"""Run directories, atomic checkpoints, resume checks, RNG state, TensorBoard logging, progress."""

from __future__ import annotations

import io
import random
import re
from dataclasses import dataclass, replace
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402

from metarl.common.agent_registry import register_agent  # noqa: E402
from metarl.common.checks import ConfigError  # noqa: E402
from metarl.common.config import EnvConfig, RunConfig, TrainConfig, load_config  # noqa: E402
from metarl.runner import runs  # noqa: E402
from metarl.runner.logger import Logger, Progress  # noqa: E402
from metarl.runner.runs import (  # noqa: E402
    CheckpointError,
    checkpoint_paths,
    checkpoint_step,
    env_short_name,
    latest_checkpoint,
    load_checkpoint,
    make_run_dir,
    resume_run,
    rng_state,
    save_checkpoint,
    set_rng_state,
)


@dataclass
class RunsToyConfig:
    lr: float = 1e-3


def _no_trainer(cfg, device):
    raise AssertionError("a config-only test agent is never trained")


register_agent("runs-toy", RunsToyConfig, _no_trainer)


@pytest.fixture
def cfg() -> RunConfig:
    return RunConfig(
        agent="runs-toy",
        env=EnvConfig(id="metarl/PointRobot-v0"),
        agent_config=RunsToyConfig(),
        seed=7,
        train=TrainConfig(keep_checkpoints=2),
    )


def state(step: int) -> dict:
    return {"policy": {"w": torch.full((3,), float(step))}, "steps": step, "history": [1.0, (2, None)]}


# --- run directories ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "env_id, name",
    [("metarl/PointRobot-v0", "PointRobot"), ("HalfCheetah-v5", "HalfCheetah"), ("ns/We ird:Name-v12", "We_ird_Name")],
)
def test_env_short_name(env_id, name):
    assert env_short_name(env_id) == name


def test_default_run_dir_name_and_resolved_config(tmp_path, cfg):
    run_dir = make_run_dir(cfg, root=tmp_path)
    assert run_dir.parent == tmp_path
    assert re.fullmatch(r"runs-toy-PointRobot-\d{8}-\d{6}-s7", run_dir.name)
    assert load_config(run_dir / "config.yaml") == cfg


def test_runs_started_in_the_same_second_get_distinct_dirs(tmp_path, cfg):
    first, second = make_run_dir(cfg, root=tmp_path), make_run_dir(cfg, root=tmp_path)
    assert first != second and first.is_dir() and second.is_dir()


def test_explicit_run_dir_refuses_to_clobber_a_non_empty_dir(tmp_path, cfg):
    run_dir = make_run_dir(cfg, tmp_path / "run")
    assert (run_dir / "config.yaml").is_file()
    save_checkpoint(run_dir, {"w": torch.zeros(1)}, 10, cfg)
    with pytest.raises(FileExistsError, match=r"already exists and is not empty; continue it with --resume"):
        make_run_dir(cfg, tmp_path / "run")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("not a run")
    with pytest.raises(FileExistsError, match=r"already exists and is not empty"):
        make_run_dir(cfg, tmp_path / "other")
    (tmp_path / "empty").mkdir()
    assert make_run_dir(cfg, tmp_path / "empty") == tmp_path / "empty"


def test_a_run_dir_that_never_checkpointed_restarts_in_place(tmp_path, cfg):
    """A run that failed before its first checkpoint left only its config and some output: the
    same command starts it again there, the stale output and temporary files removed."""
    run_dir = make_run_dir(cfg, tmp_path / "run")
    (run_dir / "events.out.tfevents.1.host").write_bytes(b"stale")
    (run_dir / "eval").mkdir()
    (run_dir / "eval" / "adaptation.json").write_text("{}")
    (run_dir / "checkpoints").mkdir()
    (run_dir / "checkpoints" / ".step_5.pt.abc.tmp").write_bytes(b"half")
    with pytest.warns(UserWarning, match="never wrote a checkpoint: restarting it in place"):
        assert make_run_dir(cfg, run_dir) == run_dir
    assert sorted(p.name for p in run_dir.rglob("*") if p.is_file()) == ["config.yaml"]


# --- checkpoints -------------------------------------------------------------------------------


def test_checkpoints_keep_the_newest_k(tmp_path, cfg):
    for step in (100, 200, 300):
        save_checkpoint(tmp_path, state(step), step, cfg)
    assert [p.name for p in checkpoint_paths(tmp_path)] == ["step_200.pt", "step_300.pt"]
    assert latest_checkpoint(tmp_path).name == "step_300.pt"
    save_checkpoint(tmp_path, state(1000), 1000, cfg, keep=1)
    # Steps compare as numbers, not strings: step_1000 is newer than step_300.
    assert [p.name for p in checkpoint_paths(tmp_path)] == ["step_1000.pt"]
    assert checkpoint_step(latest_checkpoint(tmp_path)) == 1000
    with pytest.raises(ValueError, match="'notes.txt' is not a checkpoint file name; expected step_<N>.pt"):
        checkpoint_step("notes.txt")


def test_checkpoint_round_trip(tmp_path, cfg):
    save_checkpoint(tmp_path, state(5), 5, cfg)
    ckpt = load_checkpoint(tmp_path, cfg)
    assert ckpt["step"] == 5 and ckpt["agent"] == "runs-toy"
    assert torch.equal(ckpt["state"]["policy"]["w"], torch.full((3,), 5.0))
    assert ckpt["state"]["history"] == [1.0, (2, None)]
    assert load_checkpoint(tmp_path / "checkpoints" / "step_5.pt")["step"] == 5


def test_crash_while_writing_leaves_previous_checkpoint_intact(tmp_path, cfg, monkeypatch):
    save_checkpoint(tmp_path, state(100), 100, cfg)
    before = (tmp_path / "checkpoints" / "step_100.pt").read_bytes()

    def crashing_save(obj, f, *args, **kwargs):
        f.write(b"PK\x03\x04 partial checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(runs.torch, "save", crashing_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(tmp_path, state(200), 200, cfg)
    monkeypatch.undo()

    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["step_100.pt"]
    assert (tmp_path / "checkpoints" / "step_100.pt").read_bytes() == before
    assert load_checkpoint(tmp_path, cfg)["step"] == 100


def test_state_that_could_not_be_loaded_back_is_refused_when_saving(tmp_path, cfg):
    with pytest.raises(TypeError, match=r"checkpoint state\['buffer'\]\['obs'\] is a numpy.ndarray"):
        save_checkpoint(tmp_path, {"buffer": {"obs": np.zeros(3)}}, 1, cfg)
    with pytest.raises(TypeError, match=r"checkpoint state\['return'\] is a numpy.float64"):
        save_checkpoint(tmp_path, {"return": np.float64(1.0)}, 1, cfg)
    assert checkpoint_paths(tmp_path) == []


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, cfg, damage):
    path = save_checkpoint(tmp_path, state(1), 1, cfg)
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"not a checkpoint", "empty": b""}[damage])
    with pytest.raises(CheckpointError, match=r"step_1\.pt' is corrupt or not a metarl checkpoint"):
        load_checkpoint(tmp_path)


def test_missing_checkpoints_are_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_checkpoint(tmp_path / "step_9.pt")
    with pytest.raises(FileNotFoundError, match=r"no checkpoint in .*checkpoints"):
        load_checkpoint(tmp_path)


def test_checkpoint_from_another_config_names_what_differs(tmp_path, cfg):
    save_checkpoint(tmp_path, state(1), 1, cfg)
    other = replace(cfg, seed=8, agent_config=RunsToyConfig(lr=0.5))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(tmp_path, other)
    message = str(err.value)
    assert "different config" in message
    assert "seed: 7 -> 8" in message and "runs-toy.lr: 0.001 -> 0.5" in message


def test_checkpoint_from_another_agent_or_format_is_refused(tmp_path, cfg):
    register_agent("runs-other", RunsToyConfig, _no_trainer)
    save_checkpoint(tmp_path, state(1), 1, replace(cfg, agent="runs-other"))
    with pytest.raises(CheckpointError, match="written by agent 'runs-other', but the run's agent is 'runs-toy'"):
        load_checkpoint(tmp_path, cfg)

    path = tmp_path / "checkpoints" / "step_2.pt"
    torch.save({"format_version": 99, "state": {}}, path)
    with pytest.raises(CheckpointError, match="format version 99; this metarl reads version 1"):
        load_checkpoint(path)
    torch.save({"weights": torch.ones(1)}, path)
    with pytest.raises(CheckpointError, match="not a metarl checkpoint"):
        load_checkpoint(path)


def test_resume_run_returns_config_and_latest_checkpoint(tmp_path, cfg):
    run_dir = make_run_dir(cfg, tmp_path / "run")
    save_checkpoint(run_dir, state(10), 10, cfg)
    save_checkpoint(run_dir, state(20), 20, cfg)
    resumed_cfg, ckpt = resume_run(run_dir)
    assert resumed_cfg == cfg and ckpt["step"] == 20

    config_file = run_dir / "config.yaml"
    config_file.write_text(config_file.read_text().replace("seed: 7", "seed: 9"))
    with pytest.raises(CheckpointError, match="seed: 7 -> 9"):
        resume_run(run_dir)
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        resume_run(tmp_path)


def test_resume_run_applies_and_saves_train_overrides_only(tmp_path, cfg):
    run_dir = make_run_dir(cfg, tmp_path / "run")
    save_checkpoint(run_dir, state(10), 10, cfg)
    config_file = run_dir / "config.yaml"
    before = config_file.read_text()
    with pytest.raises(ConfigError, match=r"only train\.\* keys .* not 'seed'"):
        resume_run(run_dir, ["seed=8"])
    with pytest.raises(ConfigError, match="train.total_steps=0 is not allowed"):
        resume_run(run_dir, ["train.total_steps=0"])
    assert config_file.read_text() == before, "a refused override must leave config.yaml as it was"

    resumed_cfg, ckpt = resume_run(run_dir, ["train.total_steps=5e6", "train.max_minutes=30"])
    assert (resumed_cfg.train.total_steps, resumed_cfg.train.max_minutes) == (5_000_000, 30)
    assert ckpt["step"] == 10 and load_config(config_file) == resumed_cfg
    # The checkpoint still holds the old train section: it differs only where resume may change it.
    assert resume_run(run_dir)[0] == resumed_cfg


# --- random number generators ------------------------------------------------------------------


def draws(gen: torch.Generator, np_gen: np.random.Generator) -> tuple:
    return (
        random.random(),
        np.random.rand(3).tolist(),
        torch.rand(3).tolist(),
        torch.randn(2, generator=gen).tolist(),
        np_gen.random(2).tolist(),
    )


def test_rng_state_round_trip_through_a_checkpoint_repeats_the_draws(tmp_path, cfg):
    gen, np_gen = torch.Generator().manual_seed(1), np.random.default_rng(2)
    random.seed(3), np.random.seed(4), torch.manual_seed(5)
    save_checkpoint(tmp_path, {"rng": rng_state({"env": gen, "env_np": np_gen})}, 1, cfg)
    expected = draws(gen, np_gen)
    assert draws(gen, np_gen) != expected  # the generators moved on

    set_rng_state(load_checkpoint(tmp_path, cfg)["state"]["rng"], {"env": gen, "env_np": np_gen})
    assert draws(gen, np_gen) == expected


def test_set_rng_state_needs_the_same_generators():
    saved = rng_state({"env": torch.Generator()})
    with pytest.raises(KeyError, match=r"generators \['other'\] do not match those saved, \['env'\]"):
        set_rng_state(saved, {"other": torch.Generator()})


# --- logging -----------------------------------------------------------------------------------


def scalars(run_dir, tag: str) -> list[tuple[int, float]]:
    acc = EventAccumulator(str(run_dir))
    acc.Reload()
    return [(e.step, e.value) for e in acc.Scalars(tag)]


def test_logger_writes_scalars_and_figures_tensorboard_reads(tmp_path):
    with Logger(tmp_path) as logger:
        for step in (10, 20):
            logger.scalar("charts/episodic_return", step / 10, step)
        logger.scalars({"qf": 0.5, "policy": -1.0}, 20, prefix="losses/")
        fig, ax = plt.subplots()
        ax.plot([1, 2, 3])
        logger.log_figure("eval/adaptation", fig, 20)
    assert scalars(tmp_path, "charts/episodic_return") == [(10, 1.0), (20, 2.0)]
    assert scalars(tmp_path, "losses/qf") == [(20, 0.5)]
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert "eval/adaptation" in acc.Tags()["images"]


def test_logger_on_resume_drops_what_was_logged_after_the_checkpoint(tmp_path):
    with Logger(tmp_path) as logger:
        for step in (100, 200, 300, 400):
            logger.scalar("charts/episodic_return", step, step)
    # Crashed after step 400; the last checkpoint was at step 200.
    with Logger(tmp_path, resume_step=200) as logger:
        logger.scalar("charts/episodic_return", -300, 300)
    assert scalars(tmp_path, "charts/episodic_return") == [(100, 100.0), (200, 200.0), (300, -300.0)]


def test_logger_resume_purges_even_when_the_old_event_file_sorts_late_within_its_second(tmp_path):
    # Event file names end in a per-process counter compared as text: a file made in the same
    # second with counter 10 sorts before one with counter 9, and TensorBoard would then read the
    # purge before the events it drops (a flaky CI failure). Force the worst case.
    with Logger(tmp_path) as logger:
        for step in (100, 200, 300):
            logger.scalar("charts/episodic_return", step, step)
    (old,) = tmp_path.glob("events.out.tfevents.*")
    old.rename(old.with_name(old.name.rsplit(".", 1)[0] + ".99999"))
    with Logger(tmp_path, resume_step=100) as logger:
        logger.scalar("charts/episodic_return", -200, 200)
    assert scalars(tmp_path, "charts/episodic_return") == [(100, 100.0), (200, -200.0)]


# --- progress ----------------------------------------------------------------------------------


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_writes_a_plain_line_every_interval_to_a_file_or_pipe(monkeypatch):
    """Under nohup or with output to a file there is no bar to redraw: a whole line every 30 s."""
    monkeypatch.delenv("CI", raising=False)
    clock = [0.0]
    monkeypatch.setattr("metarl.runner.logger.time", SimpleNamespace(monotonic=lambda: clock[0]))
    out = io.StringIO()
    with Progress(10_000, stream=out) as progress:
        for step in range(100, 10_001, 100):
            clock[0] = step / 100  # 100 steps/s, 100 s in all
            progress.update(step, ret=-3.5)
    lines = out.getvalue().splitlines()
    assert not progress.enabled and "\r" not in out.getvalue()
    assert [line.split("/")[0] for line in lines] == ["3,100", "6,100", "9,100", "10,000"]
    assert lines[0] == "3,100/10,000 steps (31%)  100 steps/s  ETA 0:01:09  ret -3.5"


def test_progress_is_silent_when_quiet(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    for out in (io.StringIO(), FakeTerminal()):
        with Progress(100, stream=out, min_interval=0, plain_interval=0, quiet=True) as progress:
            progress.update(50, ret=1.0)
            progress.update(100, ret=1.0)
        assert out.getvalue() == ""


def test_progress_is_silent_in_ci(monkeypatch):
    monkeypatch.setenv("CI", "true")
    for out in (io.StringIO(), FakeTerminal()):
        with Progress(100, stream=out, min_interval=0, plain_interval=0) as progress:
            progress.update(50)
            progress.update(100)
        assert out.getvalue() == ""


def test_progress_redraws_one_line_on_a_terminal(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    clock = [0.0]
    monkeypatch.setattr("metarl.runner.logger.time", SimpleNamespace(monotonic=lambda: clock[0]))
    out = FakeTerminal()
    with Progress(10_000, initial=1_000, stream=out, min_interval=0) as progress:
        clock[0] = 1.0
        progress.update(2_000, ret=12.5)
        clock[0] = 2.0
        progress.update(3_000)
    text = out.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    # Only this session's 2,000 steps count towards the rate, not the 1,000 resumed from.
    assert progress.rate == 1_000
    assert text.rsplit("\r", 1)[-1].startswith("3,000/10,000 steps (30%)  1,000 steps/s  ETA 0:00:07  ret 12.5")


def test_progress_draws_at_most_every_min_interval(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    clock = [0.0]
    monkeypatch.setattr("metarl.runner.logger.time", SimpleNamespace(monotonic=lambda: clock[0]))
    out = FakeTerminal()
    progress = Progress(100, stream=out, min_interval=1.0)
    for step in range(1, 50):
        clock[0] = step * 0.1
        progress.update(step)
    assert out.getvalue().count("\r") == 5  # at t = 0.1, 1.1, 2.1, 3.1, 4.1
    progress.update(100)  # the last step is always drawn
    assert out.getvalue().count("\r") == 6


def test_progress_time_left_is_the_wall_clock_budget_when_it_ends_first(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr("metarl.runner.logger.time", SimpleNamespace(monotonic=lambda: clock[0]))
    progress = Progress(10_000, enabled=False, seconds=60)
    clock[0] = 10.0
    progress.update(100)  # the steps would take 990 s more; the budget ends in 50 s
    assert "ETA 0:00:50" in progress.line()
    progress.update(9_900)  # now the steps end first, in 0.1 s
    assert "ETA 0:00:00" in progress.line()
    with pytest.raises(ValueError, match="seconds must be None or > 0, got 0"):
        Progress(10, seconds=0)
