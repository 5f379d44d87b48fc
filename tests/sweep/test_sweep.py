"""``metarl sweep`` on a local Ray instance: the 4-run RL^2 bandit sweep (2 seeds x 2 values), a sweep
killed with SIGKILL and resumed, a failing run among good ones, an Optuna search, and the refusals
made before Ray starts."""

from __future__ import annotations

import csv
import importlib.util
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from metarl import cli

# Not importorskip: ray reads its settings (conftest.py) when first imported, which the Ray fixture does.
pytestmark = pytest.mark.skipif(
    not all(importlib.util.find_spec(m) for m in ("ray", "optuna")), reason="the distributed extra is not installed"
)
from metarl.common.config import load_config
from metarl.runner.runs import checkpoint_paths, checkpoint_step

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "rl2" / "demo.yaml"
#: The RL^2 bandit demo shrunk to seconds per run: 8 tasks of 10 pulls per iteration, 10 iterations.
TINY = [
    "rl2.num_envs=8", "rl2.ppo.epochs=2", "rl2.ppo.num_minibatches=2", "train.total_steps=800",
    "train.checkpoint_every=400", "train.log_every=400", "eval.episodes=3",
]  # fmt: skip
GRID = "rl2.hidden_size=8,16"


def sweep(*args: str) -> int:
    """``metarl sweep ...`` in this process (on the tests' Ray instance)."""
    return cli.main(["sweep", *map(str, args)])


@pytest.fixture(scope="module")
def demo_sweep(ray_address, tmp_path_factory) -> tuple[Path, int, str]:
    """The 4-run sweep: its directory, exit status and printed output."""
    out = tmp_path_factory.mktemp("sweep") / "demo"
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = sweep(DEMO, *TINY, "--seeds", "0-1", "--grid", GRID, "--out", out)
    return out, status, printed.getvalue()


def snapshot(run: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of a run directory with its modification time and contents."""
    return {str(p.relative_to(run)): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(run.rglob("*")) if p.is_file()}


def test_four_runs_are_ordinary_run_directories(demo_sweep):
    out, status, printed = demo_sweep
    assert status == 0, printed
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == [f"rl2.hidden_size={h}-seed{s}" for h in (16, 8) for s in (0, 1)]
    for run in (out / "runs").iterdir():
        cfg = load_config(run / "config.yaml")
        assert (cfg.seed, cfg.agent_config.hidden_size) == (int(run.name[-1]), int(run.name.split("=")[1].split("-")[0]))
        assert checkpoint_step(checkpoint_paths(run)[-1]) == cfg.train.total_steps == 800
        assert all((run / "eval" / f"adaptation.{x}").is_file() for x in ("csv", "json", "png"))
        assert list(run.glob("events.out.tfevents.*"))
    assert (out / "sweep.yaml").is_file() and (out / "base.yaml").read_text() == DEMO.read_text()
    assert "4 finished, 0 failed, 0 unfinished" in printed
    # Each run resumes on its own like any run: a finished one has nothing left to do.
    assert cli.main(["train", "--resume", str(out / "runs" / "rl2.hidden_size=8-seed0")]) == 0


def test_report_numbers_equal_a_direct_computation(demo_sweep, capsys):
    out, status, _ = demo_sweep
    assert cli.main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| rl2.hidden_size=8 | 2: 0, 1 |" in printed
    for name in ("summary.md", "summary.csv", "curves.csv", "adaptation.png"):
        assert (out / "report" / name).is_file()
    with open(out / "report" / "curves.csv") as f:
        curves = [row for row in csv.DictReader(f) if row["group"] == "rl2.hidden_size=8"]
    per_seed = []
    for seed in (0, 1):
        with open(out / "runs" / f"rl2.hidden_size=8-seed{seed}" / "eval" / "adaptation.csv") as f:
            rows = list(csv.DictReader(f))
        per_seed.append([np.mean([float(r["return"]) for r in rows if r["episode"] == str(k)]) for k in (1, 2, 3)])
    per_seed = np.array(per_seed)
    mean = per_seed.mean(axis=0)
    half = stats.t.ppf(0.975, 1) * per_seed.std(axis=0, ddof=1) / math.sqrt(2)
    np.testing.assert_allclose([float(r["mean"]) for r in curves], mean, rtol=1e-12)
    np.testing.assert_allclose([float(r["ci_low"]) for r in curves], mean - half, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose([float(r["ci_high"]) for r in curves], mean + half, rtol=1e-12, atol=1e-12)
    assert cli.main(["plot", str(out), "--out", str(out / "plot.png")]) == 0
    assert (out / "plot.png").stat().st_size > 10_000


def test_killed_sweep_resumes_keeping_finished_runs(ray_address, tmp_path):
    out = tmp_path / "killed"
    # One run at a time (2 CPUs each on the 2-CPU instance): seed 0 finishes, seed 1 is killed mid-way.
    command = [
        sys.executable, "-m", "metarl", "sweep", str(DEMO), *TINY, "train.total_steps=2000",
        "--seeds", "0-1", "--cpus-per-trial", "2", "--address", ray_address, "--out", str(out),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first, second = out / "runs" / "demo-seed0", out / "runs" / "demo-seed1"
    deadline = time.monotonic() + 600  # generous: a loaded 2-core machine starts Ray workers slowly
    try:
        while not ((first / "eval" / "adaptation.json").is_file() and checkpoint_paths(second)):
            assert process.poll() is None, "the sweep ended before it could be killed"
            assert time.monotonic() < deadline, "no run finished in time"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    killed_at = checkpoint_step(checkpoint_paths(second)[-1])
    assert killed_at < 2000 and not (second / "eval").exists()
    before = snapshot(first)
    assert sweep("--resume", out) == 0
    assert snapshot(first) == before, "a finished run was touched by the resumed sweep"
    assert checkpoint_step(checkpoint_paths(second)[-1]) == 2000 and (second / "eval" / "adaptation.json").is_file()
    # Continued from its checkpoint (a restart from step 0 would have cleared the first session's events).
    assert len(list(second.glob("events.out.tfevents.*"))) >= 2


def test_failing_run_is_reported_while_the_others_finish(ray_address, tmp_path, capsys):
    out = tmp_path / "failing"
    # 1e11 sub-envs pass the config's checks; the run fails when it builds its env (memory).
    tiny = [a for a in TINY if not a.startswith("rl2.num_envs=")]
    status = sweep(DEMO, *tiny, "--grid", "rl2.num_envs=8,100000000000", "--max-failures", "1", "--out", out)
    printed = capsys.readouterr().out
    bad, good = "rl2.num_envs=100000000000-seed0", "rl2.num_envs=8-seed0"
    assert status == 1
    assert re.search(rf"{re.escape(bad)} +failed .*ValueError: num_envs=100,000,000,000 needs about", printed), printed
    assert re.search(rf"{re.escape(good)} +finished", printed), printed
    assert (out / "runs" / good / "eval" / "adaptation.json").is_file()
    assert "needs about" in (out / "errors" / f"{bad}.txt").read_text()
    assert f"retrying  {bad}" in printed  # Tune's FailureConfig retried it once


def test_optuna_search_and_its_report(ray_address, tmp_path, capsys):
    out = tmp_path / "optuna"
    status = sweep(DEMO, *TINY, "--grid", "rl2.ppo.lr=1e-4..1e-2:log", "--grid", GRID,
                   "--search", "optuna", "--trials", "2", "--out", out)  # fmt: skip
    assert status == 0, capsys.readouterr().out
    assert len(list((out / "runs").iterdir())) == 2
    assert cli.main(["report", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Best by final_return (max)" in printed and "rl2.ppo.lr" in printed
    assert "importance" in printed


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--grid", "rl2.hiden_size=8,16"], "unknown key 'rl2.hiden_size' (did you mean 'rl2.hidden_size'?)"),
        (["--grid", "rl2.hidden_size=8,0"], "rl2.hidden_size=0 is not allowed; allowed: an integer >= 1"),
        (["--seeds", "5-2"], "--seeds '5-2': the range '5-2' is reversed"),
        (["--seeds", "0,x"], "--seeds '0,x': 'x' is not a seed"),
        (["--metric", "return_ep9"], "--metric 'return_ep9' is not produced by these runs; allowed: final_return"),
        (["--metric", "success_rate"], "(the family does not report success)"),
        (["--grid", "rl2.ppo.lr=1e-4..1e-2"], "is a range, which only --search optuna samples"),
        (["--search", "optuna", "--trials", "2"], "--search optuna needs a search space"),
        (["--grid", "eval.split=test,ood"], "eval.split='ood' but metarl/BernoulliBandit-v0 has no ood task set"),
    ],
)
def test_bad_input_is_refused_before_ray_starts(tmp_path, capsys, monkeypatch, args, message):
    import metarl.sweep.launch as launch

    monkeypatch.setattr(launch, "run_sweep", lambda *a, **k: pytest.fail("the sweep started"))
    out = tmp_path / "refused"
    assert sweep(DEMO, *TINY, *args, "--out", out) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_a_sweep_directory_is_resumed_not_overwritten(demo_sweep, capsys):
    out, _, _ = demo_sweep
    assert sweep(DEMO, "--out", out) == 2
    assert f"continue it with: metarl sweep --resume {out}" in capsys.readouterr().err
    assert sweep("--resume", out, "--seeds", "0-3") == 2
    assert "it takes no --seeds" in capsys.readouterr().err


def test_sweep_without_the_distributed_extra_says_what_to_install(tmp_path, capsys, monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find_spec(name, *a))
    assert sweep(DEMO, "--out", tmp_path / "x") == 2
    assert 'pip install "metarl[distributed]"' in capsys.readouterr().err
