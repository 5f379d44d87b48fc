"""Fault injection on runs: kills at every point of the training loop, resumes, ad hoc evaluations,
corrupt checkpoints, two trainers on one run, and mistakes that must be refused before a run
directory exists. Each case goes through ``metarl train``/``metarl evaluate`` as a user would.

A kill is stood for by an exception raised where the process would die; what a real kill -9
leaves beyond that (an unfinished temporary file) is planted by hand, and one case kills a real
process with SIGKILL."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import metarl.runner.runs
import metarl.runner.train as training
from metarl import cli
from metarl.common.config import load_config
from metarl.report.adaptation import load_adaptation
from metarl.runner.runs import checkpoint_paths, checkpoint_step, make_run_dir

ROOT = Path(__file__).resolve().parents[2]
RL2 = ROOT / "configs" / "rl2" / "demo.yaml"  # absolute: some tests change directory
# 40 env steps per iteration; periods that do not divide each other, so resuming with relative
# schedules would shift them.
RL2_ARGS = [str(RL2), "rl2.num_envs=4", "rl2.hidden_size=8", "rl2.ppo.epochs=1", "eval.episodes=2",
            "train.total_steps=400", "train.log_every=40", "train.checkpoint_every=120", "eval.every_steps=100",
            "train.keep_checkpoints=5"]  # fmt: skip
PEARL = ROOT / "configs" / "pearl" / "point_robot.yaml"
PEARL_ARGS = [str(PEARL), "device=cpu", "pearl.hidden_size=16", "pearl.encoder_hidden_size=16", "pearl.meta_batch=2",
              "pearl.batch_size=16", "pearl.context_batch_size=8", "pearl.tasks_per_iteration=2",
              "pearl.initial_steps=20", "pearl.prior_steps=20", "pearl.extra_posterior_steps=20",
              "pearl.updates_per_iteration=2", "pearl.replay_capacity=500", "eval.episodes=2",
              "train.total_steps=2800", "train.log_every=100", "train.checkpoint_every=300", "eval.every_steps=250",
              "train.keep_checkpoints=5"]  # fmt: skip
# PEARL's first iteration collects 20 steps on each of its 100 training tasks, then 80 per iteration:
# both agents run 10 iterations, evaluate 4 times (the last at the end) and checkpoint 4 or 5 times.
AGENTS = {"rl2": RL2_ARGS, "pearl": PEARL_ARGS}


class Killed(BaseException):
    """Stands for the process dying at this point (a BaseException, as nothing may catch it)."""


def record(run: Path) -> tuple[dict, dict, dict]:
    """What a run leaves for its user: TensorBoard scalars as read back, and the evaluation files.

    Returns (scalars but wall-clock ones, the steps of every tag, evaluation file bytes)."""
    events = EventAccumulator(str(run), size_guidance={"scalars": 0})
    events.Reload()
    scalars = {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}
    exact = {tag: values for tag, values in scalars.items() if not tag.startswith("perf/")}
    steps = {tag: [step for step, _ in values] for tag, values in scalars.items()}
    files = {str(p.relative_to(run)): p.read_bytes() for p in (run / "eval").rglob("adaptation.*")}
    return exact, steps, files


def train_cli(*args: str) -> int:
    return cli.main(["train", *args])


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> dict[str, tuple[dict, dict, dict]]:
    """The record of each agent's run trained without interruption."""
    out = {}
    for agent, args in AGENTS.items():
        run = tmp_path_factory.mktemp(agent) / "run"
        assert train_cli(*args, "--run-dir", str(run)) == 0
        out[agent] = record(run)
    return out


def assert_same_record(run: Path, expected: tuple[dict, dict, dict]) -> None:
    exact, steps, files = record(run)
    assert steps == expected[1], "the resumed run logged at other steps"
    for tag, values in steps.items():
        assert len(values) == len(set(values)), f"{tag} has two values at one step"
    assert exact == expected[0], "the resumed run's scalars differ from the uninterrupted run's"
    assert files.keys() == expected[2].keys() and all(files[k] == expected[2][k] for k in files)


def kill_at(monkeypatch, target, name: str, call: int) -> None:
    """Make the ``call``-th call (1-based) of ``target.name`` kill the process."""
    original, calls = getattr(target, name), []

    def dying(*args, **kwargs):
        calls.append(1)
        if len(calls) == call:
            raise Killed
        return original(*args, **kwargs)

    monkeypatch.setattr(target, name, dying)


def kill_mid_iteration(monkeypatch, run: Path) -> None:
    original = training.make_trainer

    def make(cfg, device):
        trainer = original(cfg, device)
        kill_at(monkeypatch, trainer, "train_iteration", 7)
        return trainer

    monkeypatch.setattr(training, "make_trainer", make)


def kill_mid_checkpoint_write(monkeypatch, run: Path) -> None:
    kill_at(monkeypatch, metarl.runner.runs.torch, "save", 2)


def kill_mid_periodic_evaluation(monkeypatch, run: Path) -> None:
    kill_at(monkeypatch, training, "evaluate_adaptation", 3)


def kill_mid_final_evaluation(monkeypatch, run: Path) -> None:
    kill_at(monkeypatch, training, "evaluate_adaptation", 4)  # the final one


def kill_after_the_end(monkeypatch, run: Path) -> None:
    pass


def interrupt_with_ctrl_c(monkeypatch, run: Path) -> None:
    """Ctrl-C during an iteration: the run stops after it with a checkpoint, and nothing is lost."""
    original = training.make_trainer

    def make(cfg, device):
        trainer = original(cfg, device)
        iteration, calls = trainer.train_iteration, []

        def interrupted():
            calls.append(1)
            if len(calls) == 5:
                signal.raise_signal(signal.SIGINT)
            return iteration()

        trainer.train_iteration = interrupted
        return trainer

    monkeypatch.setattr(training, "make_trainer", make)


KILLS = [kill_mid_iteration, kill_mid_checkpoint_write, kill_mid_periodic_evaluation, kill_mid_final_evaluation,
         kill_after_the_end, interrupt_with_ctrl_c]  # fmt: skip


@pytest.mark.parametrize("agent", sorted(AGENTS))
@pytest.mark.parametrize("kill", KILLS, ids=lambda f: f.__name__)
def test_a_resumed_run_records_exactly_what_an_uninterrupted_one_does(agent, kill, tmp_path, monkeypatch, uninterrupted):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill(patch, run)
        try:
            code = train_cli(*AGENTS[agent], "--run-dir", str(run))
        except Killed:
            code = None
    if kill is interrupt_with_ctrl_c:
        total = load_config(run / "config.yaml").train.total_steps
        assert code == 130 and checkpoint_step(checkpoint_paths(run)[-1]) < total, "Ctrl-C must stop with a checkpoint"
    # What a kill -9 in the middle of a write leaves behind: resuming deletes it.
    orphan = run / "checkpoints" / ".step_5000.pt.x1y2.tmp"
    orphan.parent.mkdir(exist_ok=True)
    orphan.write_bytes(b"half a checkpoint")
    assert train_cli("--resume", str(run)) == 0
    assert not orphan.exists()
    assert_same_record(run, uninterrupted[agent])


def test_a_run_killed_by_sigkill_resumes_with_every_evaluation(tmp_path, uninterrupted):
    """The issue's reproduction: a real process killed (SIGKILL) once a checkpoint appears."""
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "metarl.cli", "train", *RL2_ARGS, "--run-dir", str(run)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not any(checkpoint_step(p) >= 240 for p in checkpoint_paths(run)) and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert train_cli("--resume", str(run)) == 0
    assert_same_record(run, uninterrupted["rl2"])


def test_evaluate_writes_beside_the_training_record_and_never_over_it(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(*RL2_ARGS, "--run-dir", str(run)) == 0
    before = record(run)
    assert cli.main(["evaluate", str(run), "--tasks", "train", "--episodes", "3"]) == 0
    assert record(run)[:2] == before[:2], "TensorBoard scalars of the run changed"
    assert {k: v for k, v in record(run)[2].items() if k in before[2]} == before[2]
    ad_hoc = run / "eval" / "train-3ep-step400"
    assert str(ad_hoc) in capsys.readouterr().out
    result = load_adaptation(ad_hoc)
    assert (result.split, result.returns.shape[1]) == ("train", 3)
    assert load_adaptation(run).split == "test"  # the run's own evaluation is still there
    assert cli.main(["plot", str(run), str(ad_hoc), "--out", str(tmp_path / "both.png")]) == 0


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys, uninterrupted):
    run = tmp_path / "run"
    assert train_cli(*RL2_ARGS, "train.total_steps=240", "--run-dir", str(run)) == 0
    newest = checkpoint_paths(run)[-1]
    assert checkpoint_step(newest) == 240
    newest.write_bytes(newest.read_bytes()[:100])
    with pytest.warns(UserWarning, match=r"step_240\.pt' is corrupt.*falling back to step_120\.pt"):
        assert cli.main(["evaluate", str(run)]) == 0
    assert (run / "eval" / "test-2ep-step120").is_dir()
    with pytest.warns(UserWarning, match="falling back"):
        assert train_cli("--resume", str(run), "train.total_steps=400") == 0
    assert (run / "checkpoints" / "step_240.pt.corrupt").is_file()
    assert "weights_only" not in capsys.readouterr().err
    exact, steps, _ = record(run)
    assert exact == uninterrupted["rl2"][0] and steps == uninterrupted["rl2"][1]


def test_resume_from_a_chosen_checkpoint(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(*RL2_ARGS, "--run-dir", str(run)) == 0
    assert train_cli("--resume", str(run), "--checkpoint", "step_9.pt") == 2
    assert "available: step_120.pt, step_240.pt, step_360.pt, step_400.pt" in capsys.readouterr().err
    with pytest.warns(UserWarning, match="set aside step_360.pt"):
        assert train_cli("--resume", str(run), "--checkpoint", "step_240.pt") == 0
    assert (run / "checkpoints" / "step_360.pt.superseded").is_file()
    assert [checkpoint_step(p) for p in checkpoint_paths(run)][-2:] == [360, 400]


def test_a_second_trainer_on_a_run_is_refused_and_a_dead_ones_lock_is_taken_over(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(*RL2_ARGS, "train.total_steps=120", "--run-dir", str(run)) == 0
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from metarl.runner.lock import run_lock\n"
         "with run_lock(sys.argv[1]):\n    print('locked', flush=True); time.sleep(60)", str(run)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout.readline().strip() == "locked"
    assert train_cli("--resume", str(run), "train.total_steps=240") == 2
    err = capsys.readouterr().err
    assert f"pid {holder.pid} on host {os.uname().nodename}" in err and "being trained by another process" in err
    assert checkpoint_step(checkpoint_paths(run)[-1]) == 120, "the refused process must not train"
    holder.kill()
    holder.wait()
    assert train_cli("--resume", str(run), "train.total_steps=240") == 0
    assert checkpoint_step(checkpoint_paths(run)[-1]) == 240


def test_a_run_that_failed_before_its_first_checkpoint_starts_again_in_place(tmp_path, monkeypatch):
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        kill_at(patch, training, "save_checkpoint", 1)
        with pytest.raises(Killed):
            train_cli(*RL2_ARGS, "--run-dir", str(run))
    assert (run / "config.yaml").is_file() and not checkpoint_paths(run)
    with pytest.warns(UserWarning, match="restarting it in place"):
        assert train_cli(*RL2_ARGS, "--run-dir", str(run)) == 0
    assert checkpoint_step(checkpoint_paths(run)[-1]) == 400
    # and through --resume, which has no checkpoint to continue from
    (run / "checkpoints").rename(tmp_path / "aside")
    with pytest.warns(UserWarning, match="no checkpoint: training it again from step 0"):
        assert train_cli("--resume", str(run)) == 0
    assert len(list(run.glob("events.out.tfevents.*"))) == 1


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("env.id=metarl/PointRobt-v0", ["env.id='metarl/PointRobt-v0' is not a registered environment",
                                        "did you mean 'metarl/PointRobot-v0'"]),
        ("env.id=CartPole-v1", ["env.id='CartPole-v1' is a gymnasium environment but not a task-distributed family"]),
        ("env.id=mine/Ring-v0", ["not a registered environment", "--import MODULE"]),
        ("env.kwargs={num_armz: 3}", ["env.kwargs.num_armz is not an argument of metarl/BernoulliBandit-v0",
                                     "did you mean 'num_arms'", "allowed: task, num_arms"]),
        ("env.kwargs={num_arms: -3}", ["env.kwargs={'num_arms': -3} are not accepted by metarl/BernoulliBandit-v0"]),
        ("eval.split=ood", ["eval.split='ood' but metarl/BernoulliBandit-v0 has no ood task set; allowed: 'train', 'test'"]),
        ("env.id=metarl/BernoulliBandit-v0", ["PEARL needs a continuous (Box) action space"]),
        ("sb3:env.id=metarl/BernoulliBandit-v0", ["sb3.algo='sac' cannot act in metarl/BernoulliBandit-v0's action "
                                                  "space Discrete(5); it supports Box"]),
    ],
)  # fmt: skip
def test_mistakes_are_refused_before_the_run_directory_exists(override, fragments, tmp_path, capsys):
    run = tmp_path / "run"
    config = PEARL if override.startswith("env.id=metarl/Bern") else RL2
    if override.startswith("sb3:"):
        config, override = ROOT / "configs" / "sb3" / "point_robot_sac_multitask.yaml", override[4:]
    assert train_cli(str(config), override, "--run-dir", str(run)) == 2
    assert not run.exists()
    err = capsys.readouterr().err
    for fragment in fragments:
        assert fragment in err, err


def test_cli_overrides_may_follow_options_and_an_empty_config_lists_the_agents(tmp_path, capsys):
    run = tmp_path / "run"
    assert train_cli(*RL2_ARGS[:1], "--run-dir", str(run), *RL2_ARGS[1:], "train.total_steps=80") == 0
    assert load_config(run / "config.yaml").train.total_steps == 80
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert train_cli(str(empty)) == 2
    err = capsys.readouterr().err
    assert "registered agents: " in err and "pearl" in err and "rl2" in err and "(none)" not in err
    with pytest.raises(SystemExit):
        cli.main(["evaluate", str(run), "--bogus"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_to_a_training_process_keeps_its_work(signum, tmp_path):
    """Ctrl-C (SIGINT) or SIGTERM to `metarl train`: it finishes the iteration, writes a checkpoint,
    says how to resume and exits with 128 + the signal; the resumed run records one continuous
    event stream equal to an uninterrupted run's."""
    longer = [*RL2_ARGS, "train.total_steps=4000", "eval.every_steps=1000"]
    full = tmp_path / "full"
    assert train_cli(*longer, "--run-dir", str(full)) == 0
    run = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "metarl.cli", "train", *longer, "--run-dir", str(run)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while not checkpoint_paths(run) and process.poll() is None:
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.01)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, (out, err)
    assert f"continue with: metarl train --resume {run}" in err and "Traceback" not in err
    stopped = checkpoint_step(checkpoint_paths(run)[-1])
    assert 120 <= stopped < 4000
    assert train_cli("--resume", str(run)) == 0
    assert_same_record(run, record(full))


def test_a_run_in_the_default_directory_starts_without_warnings(tmp_path, monkeypatch, recwarn, capsys):
    monkeypatch.chdir(tmp_path)
    assert train_cli(*RL2_ARGS, "train.total_steps=80") == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert checkpoint_paths(run) and not [w for w in recwarn if "restarting" in str(w.message)]
    assert "warning" not in capsys.readouterr().err


def test_a_failing_evaluation_keeps_the_training_in_a_checkpoint(tmp_path, monkeypatch):
    """An evaluation that raises (here at the first one, step 120) must not lose the steps
    trained: the checkpoint of that step is written before the error reaches the user."""
    run = tmp_path / "run"

    def broken(*args, **kwargs):
        raise RuntimeError("the evaluation broke")

    monkeypatch.setattr(training, "evaluate_run", broken)
    with pytest.raises(RuntimeError, match="the evaluation broke"):
        training.train(load_config(RL2, [*RL2_ARGS[1:], "train.total_steps=400"]), run)
    assert [checkpoint_step(p) for p in checkpoint_paths(run)] == [120]


def test_a_finished_run_whose_final_evaluation_failed_gets_it_on_resume(tmp_path, monkeypatch):
    """The final evaluation raised after the last checkpoint was kept: ``--resume`` of the finished
    run evaluates it (before, the run stayed without its adaptation curve)."""
    run = tmp_path / "run"
    real = training.evaluate_run

    def broken(*args, **kwargs):
        raise RuntimeError("the evaluation broke")

    monkeypatch.setattr(training, "evaluate_run", broken)
    cfg = load_config(RL2, [*RL2_ARGS[1:], "train.total_steps=120"])
    make_run_dir(cfg, run)
    with pytest.raises(RuntimeError, match="the evaluation broke"):
        training.train(cfg, run)
    assert [checkpoint_step(p) for p in checkpoint_paths(run)] == [120] and not (run / "eval").exists()
    monkeypatch.setattr(training, "evaluate_run", real)
    assert train_cli("--resume", str(run)) == 0
    assert json.loads((run / "eval" / "adaptation.json").read_text())["step"] == 120


def test_a_checkpoint_from_before_a_new_config_option_resumes(tmp_path):
    """A key added to the config schema since a checkpoint was written takes its default there."""
    run = tmp_path / "run"
    assert train_cli(*RL2_ARGS, "train.total_steps=120", "--run-dir", str(run)) == 0
    path = checkpoint_paths(run)[-1]
    ckpt = torch.load(path, weights_only=True)
    del ckpt["config"]["eval"]["evaluation_episodes"]  # as written before that option existed
    torch.save(ckpt, path)
    assert train_cli("--resume", str(run), "train.total_steps=240") == 0
    assert checkpoint_step(checkpoint_paths(run)[-1]) == 240
