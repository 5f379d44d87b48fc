"""Runs grouped across seeds (``metarl report``): the numbers equal a direct computation from the
runs' eval files, the IQM interval is a stratified bootstrap, and the report needs no Ray."""

from __future__ import annotations

import csv
import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from scipy import stats

from metarl import cli
from metarl.report.adaptation import write_adaptation
from metarl.report.aggregate import check_metric, find_runs, iqm_interval, metric_value
from metarl.report.results import AdaptationResult
from metarl.report.summary import build_report, write_report

TASKS, EPISODES = 6, 3


def make_run(root: Path, name: str, seed: int, returns: np.ndarray, success: np.ndarray | None = None,
             train: dict | None = None, step: int = 800, agent: str = "rl2", **params) -> Path:  # fmt: skip
    """A run directory as ``metarl train`` leaves it, as far as reports read it: config.yaml and eval/
    (evaluated at env step ``step``)."""
    run = root / name
    run.mkdir(parents=True)
    config = {"agent": agent, "env": {"id": "metarl/BernoulliBandit-v0", "kwargs": {}}, "seed": seed,
              "train": {"total_steps": 800, "log_every": 100 + seed, **(train or {})},
              agent: {"hidden_size": 16, **params}}  # fmt: skip
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    tasks = [{"arm_probs": np.full(2, i / TASKS, dtype=np.float32)} for i in range(len(returns))]
    extra = {} if success is None else {"successes": success, "groups": [f"c{i % 2}" for i in range(len(returns))],
                                        "evaluation_episodes": 1}  # fmt: skip
    result = AdaptationResult("metarl/BernoulliBandit-v0", "test", agent, tasks, returns,
                              np.ones(returns.shape, dtype=np.int64), seed, **extra)  # fmt: skip
    write_adaptation(result, run, step=step)
    return run


def csv_returns(run: Path) -> np.ndarray:
    """``(tasks, episodes)`` returns read straight from the run's adaptation.csv."""
    with open(run / "eval" / "adaptation.csv") as f:
        rows = list(csv.DictReader(f))
    out = np.zeros((TASKS, EPISODES))
    for row in rows:
        out[int(row["task_index"]), int(row["episode"]) - 1] = float(row["return"])
    return out


@pytest.fixture
def two_groups(tmp_path) -> Path:
    rng = np.random.default_rng(3)
    for lr in (0.001, 0.01):
        for seed in range(3):
            make_run(tmp_path / "runs", f"lr{lr}-seed{seed}", seed, rng.normal(lr * 100, 1.0, (TASKS, EPISODES)), lr=lr)
    return tmp_path


def test_group_statistics_equal_a_direct_computation(two_groups):
    report = build_report([two_groups])
    assert [s.group.label for s in report.groups] == ["rl2.lr=0.001", "rl2.lr=0.01"]  # log_every, seed ignored
    for s, lr in zip(report.groups, ("0.001", "0.01")):
        runs = sorted((two_groups / "runs").glob(f"lr{lr}-seed*"))
        returns = np.stack([csv_returns(r) for r in runs])  # (seeds, tasks, episodes)
        per_seed = returns.mean(axis=1)
        half = stats.t.ppf(0.975, 2) * per_seed.std(axis=0, ddof=1) / math.sqrt(3)
        np.testing.assert_allclose(s.curve[0], per_seed.mean(axis=0), rtol=1e-12)
        np.testing.assert_allclose(s.curve[2] - s.curve[0], half, rtol=1e-9)
        assert s.final.value == pytest.approx(per_seed[:, -1].mean(), rel=1e-12)
        pooled = np.sort(returns[:, :, -1].reshape(-1))  # 18 values: the IQM drops 4 at each end
        assert s.iqm.value == pytest.approx(pooled[4:14].mean(), rel=1e-12)
        assert s.seeds == [0, 1, 2] and s.metric == pytest.approx(per_seed[:, -1].mean(), rel=1e-12)
    assert report.best is report.groups[1]


def test_seeds_group_by_the_steps_they_trained_not_their_last_session_s_budget(tmp_path):
    """A seed launched for 1000 steps but stopped by time at 800 (its config.yaml: the last
    session's total_steps and max_minutes) groups with seeds run to 800; one evaluated at 400
    does not. Labels name only keys the group has (not another agent's section)."""
    rng = np.random.default_rng(0)
    make_run(tmp_path, "a0", 0, rng.normal(size=(TASKS, EPISODES)), train={"total_steps": 1000, "max_minutes": 20})
    make_run(tmp_path, "a1", 1, rng.normal(size=(TASKS, EPISODES)), train={"max_minutes": 60})
    make_run(tmp_path, "a2", 2, rng.normal(size=(TASKS, EPISODES)))
    make_run(tmp_path, "short", 0, rng.normal(size=(TASKS, EPISODES)), step=400)
    make_run(tmp_path, "other", 0, rng.normal(size=(TASKS, EPISODES)), agent="varibad")
    report = build_report([tmp_path])
    assert [(s.group.label, s.seeds) for s in report.groups] == [
        ("agent=rl2, env_steps=800, rl2.hidden_size=16", [0, 1, 2]),
        ("agent=varibad, env_steps=800, varibad.hidden_size=16", [0]),
        ("agent=rl2, env_steps=400, rl2.hidden_size=16", [0]),
    ]  # in the order of the runs' names
    write_report(report, tmp_path / "report")
    header, *rows = (tmp_path / "report" / "summary.csv").read_text().splitlines()
    assert header.startswith("group,agent,env_steps,rl2.hidden_size,varibad.hidden_size,seeds,")
    assert rows[1].startswith('"agent=varibad, env_steps=800, varibad.hidden_size=16",varibad,800,,16,0,')


def test_iqm_interval_is_a_bootstrap_of_seeds_within_tasks():
    rng = np.random.default_rng(0)
    scores = rng.normal(0, 1, (5, 8))
    point, low, high = iqm_interval(scores)
    # The same method written out: per task, draw the seeds with replacement; IQM of the whole matrix.
    draws = []
    for _ in range(4000):
        picks = rng.integers(0, 5, size=(5, 8))
        draws.append(stats.trim_mean(np.take_along_axis(scores, picks, axis=0).reshape(-1), 0.25))
    assert low < point < high
    np.testing.assert_allclose([low, high], np.quantile(draws, [0.025, 0.975]), atol=0.05)
    # Seeds that agree on every task leave nothing to resample: the interval is the point.
    same = np.repeat(scores[:1], 4, axis=0)
    assert iqm_interval(same)[1:] == pytest.approx((iqm_interval(same)[0],) * 2)
    assert all(math.isnan(x) for x in iqm_interval(scores[:1])[1:])  # one seed: no interval


def test_success_rate_across_seeds(tmp_path):
    rates = []
    for seed in range(2):
        success = np.zeros((TASKS, EPISODES), dtype=bool)
        success[: 2 + 2 * seed, -1] = True  # evaluation episode: 2/6 and 4/6 tasks
        make_run(tmp_path, f"mw-seed{seed}", seed, np.zeros((TASKS, EPISODES)), success)
        by_class = [success[[i for i in range(TASKS) if i % 2 == c], -1].mean() for c in (0, 1)]
        rates.append(np.mean(by_class))
    (s,) = build_report([tmp_path]).groups
    assert s.success.value == pytest.approx(np.mean(rates))
    half = stats.t.ppf(0.975, 1) * np.std(rates, ddof=1) / math.sqrt(2)
    assert half > 0.5, "two seeds this far apart: the t-interval spans more than [0, 1]"
    assert (s.success.low, s.success.high) == (0.0, 1.0), "a rate's interval is clipped to [0, 1]"
    assert ((s.success_curve[1:] >= 0) & (s.success_curve[1:] <= 1)).all()


def test_best_success_per_seed_is_the_meta_world_paper_s_statistic(tmp_path):
    """Each seed's best evaluation (periodic or final, from its TensorBoard events, none after the
    final evaluation's step) averaged over seeds; a seed without periodic evaluations counts its final."""
    from torch.utils.tensorboard import SummaryWriter

    finals, bests = [], []
    for seed, logged in enumerate(({200: 0.9, 500: 0.5, 900: 1.0}, {})):
        success = np.zeros((TASKS, EPISODES), dtype=bool)
        success[: 2 + seed, -1] = True
        run = make_run(tmp_path, f"mw-seed{seed}", seed, np.zeros((TASKS, EPISODES)), success, step=800)
        finals.append(np.mean([success[[i for i in range(TASKS) if i % 2 == c], -1].mean() for c in (0, 1)]))
        with SummaryWriter(str(run)) as writer:
            for step, rate in logged.items():  # 900: after the evaluated step (a later session's), left out
                writer.add_scalar("eval/success_rate", rate, step)
        bests.append(max([finals[-1], *(v for k, v in logged.items() if k <= 800)]))
    (s,) = build_report([tmp_path]).groups
    assert bests == [0.9, finals[1]] and finals[0] < 0.9
    assert s.success.value == pytest.approx(np.mean(finals))
    assert s.best_success.value == pytest.approx(np.mean(bests))
    half = stats.t.ppf(0.975, 1) * np.std(bests, ddof=1) / math.sqrt(2)
    assert (s.best_success.low, s.best_success.high) == pytest.approx((max(0, np.mean(bests) - half), min(1, np.mean(bests) + half)))
    out = tmp_path / "report"
    write_report(build_report([tmp_path]), out)
    assert "best success per seed" in (out / "summary.md").read_text()
    row = next(csv.DictReader(open(out / "summary.csv")))
    assert float(row["best_success"]) == pytest.approx(np.mean(bests))


@pytest.mark.skipif(importlib.util.find_spec("optuna") is None, reason="optuna (the distributed extra) is not installed")
def test_optuna_sweep_reports_best_configuration_and_importances(tmp_path):
    rng = np.random.default_rng(1)
    for i, (lr, width) in enumerate([(1e-3, 8), (3e-3, 16), (1e-2, 8), (3e-2, 16), (2e-3, 32), (5e-3, 8)]):
        returns = np.full((TASKS, EPISODES), 100 * lr) + rng.normal(0, 0.01, (TASKS, EPISODES))
        make_run(tmp_path / "runs", f"t{i}-seed0", 0, returns, lr=lr, width=width)
    (tmp_path / "sweep.yaml").write_text(yaml.safe_dump({"search": "optuna", "metric": "final_return", "mode": "max"}))
    report = build_report([tmp_path])
    assert report.best.group.params == {"rl2.lr": 3e-2, "rl2.width": 16}
    assert set(report.importances) == {"rl2.lr", "rl2.width"}
    assert report.importances["rl2.lr"] > report.importances["rl2.width"]


def test_report_and_plot_commands_need_no_ray(two_groups, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails: the core install has no Ray
    assert cli.main(["report", str(two_groups)]) == 0
    printed = capsys.readouterr().out
    assert "| rl2.lr=0.01 | 3: 0, 1, 2 | 800 |" in printed
    assert {p.name for p in (two_groups / "report").iterdir()} == {"summary.md", "summary.csv", "curves.csv", "adaptation.png"}
    with open(two_groups / "report" / "summary.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["rl2.lr"] for r in rows] == ["0.001", "0.01"] and rows[0]["seeds"] == "0 1 2"
    assert cli.main(["plot", str(two_groups), "--out", str(two_groups / "groups.png")]) == 0
    assert (two_groups / "groups.png").stat().st_size > 10_000


def test_metric_and_folder_refusals(tmp_path, two_groups):
    with pytest.raises(ValueError, match=r"'return_ep4' is not produced.*allowed: final_return, mean_return, return_ep1..return_ep3$"):
        check_metric("return_ep4", 3, has_success=False)
    with pytest.raises(ValueError, match="does not report success"):
        check_metric("success_rate", 3, has_success=False)
    check_metric("success_rate", 3, has_success=True)
    result = build_report([two_groups]).groups[0].group.results[0]
    assert metric_value(result, "return_ep1") == pytest.approx(result.returns[:, 0].mean())
    with pytest.raises(FileNotFoundError, match="no run directories"):
        find_runs([tmp_path / "runs" / "lr0.001-seed0" / "eval"])
