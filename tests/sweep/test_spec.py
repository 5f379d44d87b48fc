"""A sweep's specification (seeds, grid axes, ``sweep.yaml``) and the Optuna search rebuilt from the runs on disk."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import yaml

from metarl.report.adaptation import write_adaptation
from metarl.report.results import AdaptationResult
from metarl.sweep.spec import Axis, SweepSpec, load_spec, parse_axis, parse_seeds, save_spec
from metarl.sweep.trials import grid_groups, make_group, run_dir, run_overrides, run_state


def test_seeds():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_seeds("5") == [5]
    for bad, message in [("3-1", "reversed"), ("-1", "not a seed"), ("0,0-2", "more than once"), ("", "not a seed")]:
        with pytest.raises(ValueError, match=message):
            parse_seeds(bad)


def test_axes():
    assert parse_axis("rl2.ppo.lr=1e-3,3e-4").values == [1e-3, 3e-4]
    assert parse_axis("rl2.policy_layers=[64, 64],[32]").values == [[64, 64], [32]]
    assert parse_axis("eval.split=test,ood").values == ["test", "ood"]
    assert parse_axis("rl2.ppo.lr=1e-4..1e-2:log") == Axis("rl2.ppo.lr", low=1e-4, high=1e-2, log=True)
    assert parse_axis("rl2.hidden_size=16..128").integer
    for bad, message in [("lr", "is not of the form"), ("seed=1,2", "--seeds"), ("a.b=3..1", "LOW < HIGH"),
                         ("a.b=0..1:log", "LOW > 0"), ("a.b=1,1", "more than once")]:  # fmt: skip
        with pytest.raises(ValueError, match=message):
            parse_axis(bad)


def test_spec_round_trips_through_safe_yaml(tmp_path):
    spec = SweepSpec("/x/demo.yaml", ["train.total_steps=800"], [0, 1], [parse_axis("rl2.ppo.lr=1e-4..1e-2:log")],
                     "optuna", trials=4, gpus_per_trial=0.25)  # fmt: skip
    save_spec(spec, tmp_path)
    assert yaml.safe_load((tmp_path / "sweep.yaml").read_text())["grid"] == [
        {"key": "rl2.ppo.lr", "low": 1e-4, "high": 1e-2, "log": True}
    ]
    assert load_spec(tmp_path) == spec
    with pytest.raises(ValueError, match="both an override and a --grid key"):
        SweepSpec("/x/demo.yaml", ["rl2.ppo.lr=1"], grid=[parse_axis("rl2.ppo.lr=1,2")])


def test_groups_name_their_run_directories():
    spec = SweepSpec("/x/demo.yaml", ["eval.episodes=3"], [0, 1], [parse_axis("rl2.hidden_size=8,16"),
                                                                    parse_axis("eval.split=test,ood")])  # fmt: skip
    groups = grid_groups(spec)
    assert [g.name for g in groups] == [f"rl2.hidden_size={h},eval.split={s}" for h in (8, 16) for s in ("test", "ood")]
    assert run_overrides(spec, groups[1], 1) == ["eval.episodes=3", "rl2.hidden_size=8", 'eval.split="ood"', "seed=1"]
    assert make_group(SweepSpec("/x/demo.yaml"), {}).name == "demo"


def _finished_run(path: Path, config: dict, value: float, steps: int = 800) -> None:
    """A run directory that ``run_state`` reads as finished: config, a checkpoint name, its evaluation."""
    (path / "checkpoints").mkdir(parents=True)
    (path / "checkpoints" / f"step_{steps}.pt").write_bytes(b"")
    (path / "config.yaml").write_text(yaml.safe_dump({**config, "train": {"total_steps": 800}}))
    tasks = [{"p": np.zeros(1, dtype=np.float32)}] * 2
    result = AdaptationResult("metarl/BernoulliBandit-v0", "test", "rl2", tasks, np.full((2, 1), value), np.ones((2, 1), int))
    write_adaptation(result, path, step=steps)


@pytest.mark.skipif(not all(importlib.util.find_spec(m) for m in ("ray", "optuna")), reason="needs the distributed extra")
def test_optuna_resumes_from_the_runs_on_disk(tmp_path):
    from metarl.sweep.search import plan_search

    spec = SweepSpec("/x/demo.yaml", seeds=[0, 1], grid=[parse_axis("rl2.ppo.lr=1e-4..1e-2:log")], search="optuna", trials=5)
    done, killed = make_group(spec, {"rl2.ppo.lr": 0.001}), make_group(spec, {"rl2.ppo.lr": 0.0003})
    for seed in (0, 1):
        _finished_run(run_dir(tmp_path, done, seed), {"seed": seed, "rl2": {"ppo": {"lr": 0.001}}}, 0.5 + seed)
    _finished_run(run_dir(tmp_path, killed, 0), {"seed": 0, "rl2": {"ppo": {"lr": 0.0003}}}, 0.2, steps=400)
    assert run_state(run_dir(tmp_path, killed, 0)) == "started"
    plan = plan_search(spec, tmp_path)
    assert [g.name for g in plan.finished] == [done.name] and [g.name for g in plan.resumed] == [killed.name]
    assert plan.launch == 4  # 5 trials, one already finished
    plan.searcher.set_search_properties(spec.metric, spec.mode, {})
    study = plan.searcher._ot_study
    (told,) = [t for t in study.trials if t.value is not None]
    assert told.params == {"rl2.ppo.lr": 0.001} and told.value == pytest.approx(1.0)  # mean of 0.5 and 1.5
    assert plan.searcher.suggest("first") == {"rl2.ppo.lr": 0.0003}  # the killed group comes back first
