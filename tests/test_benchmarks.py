"""The benchmark scripts run and report what they measured (tiny settings; no timing asserted)."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script(name: str):
    """A script of benchmarks/ as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the script executes
    spec.loader.exec_module(module)
    return module


def test_training_throughput_times_whole_iterations_at_each_size(capsys):
    script = load_script("training_throughput")
    args = ["--configs", "configs/rl2/demo.yaml", "--num-envs", "4", "8", "--warmup", "0", "--seconds", "0",
            "rl2.hidden_size=8", "rl2.ppo.epochs=1"]  # fmt: skip
    rows = script.main(args)
    assert [r.parallel_tasks for r in rows] == [4, 8]
    # The demo's trials are 10 bandit pulls, one trial per task and iteration.
    assert [r.steps_per_iteration for r in rows] == [40, 80]
    assert all(r.iterations >= 1 and r.steps_per_second > 0 and r.agent == "rl2" for r in rows)
    table = capsys.readouterr().out
    assert "| configs/rl2/demo.yaml | cpu | 8 | 80 | " in table


def test_training_throughput_refuses_a_size_for_an_agent_without_one():
    script = load_script("training_throughput")
    with pytest.raises(ValueError, match="'pearl' has no parallel-task key"):
        script.main(["--configs", "configs/pearl/demo.yaml", "--num-envs", "4"])


def test_bandit_exploration_reports_which_arms_each_agent_pulls(capsys):
    script = load_script("bandit_exploration")
    results = {r.agent: r for r in script.main(["--pulls", "50", "--tasks", "200"])}
    random, ucb1, thompson = results["random"], results["ucb1"], results["thompson"]
    assert random.best_share_first == pytest.approx(0.2, abs=0.05) and random.ends_on_best == pytest.approx(0.2, abs=0.1)
    assert ucb1.arms_tried_early == 5.0  # UCB1 pulls every arm once before using its bound
    assert thompson.best_share_last > thompson.best_share_first  # it learns which arm is best
    assert thompson.regret < random.regret / 2 and thompson.total_reward > random.total_reward
    assert "| thompson | " in capsys.readouterr().out


def test_demo_seeds_trains_interrupts_resumes_and_reports_each_seed(tmp_path, capsys):
    script = load_script("demo_seeds")
    tiny = ["rl2.num_envs=4", "rl2.hidden_size=8", "rl2.ppo.epochs=1", "eval.episodes=2", "train.total_steps=4000",
            "train.checkpoint_every=400", "train.log_every=400"]  # fmt: skip
    (result,) = script.main(["--config", "configs/rl2/demo.yaml", "--seeds", "3", "--parallel", "1",
                             "--interrupt-at", "0.3", "--out", str(tmp_path), *tiny])  # fmt: skip
    assert result.seed == 3 and len(result.returns) == 2 and result.optimum is not None and result.random is not None
    assert 1200 <= result.interrupted_at < 4000  # stopped by Ctrl-C, then resumed to the end
    assert (tmp_path / "s3" / "checkpoints" / "step_4000.pt").is_file()
    assert "| 3 | " in capsys.readouterr().out


def test_pearl_update_times_meta_updates_of_each_config(capsys):
    script = load_script("pearl_update")
    tiny = ["pearl.hidden_size=16", "pearl.encoder_hidden_size=16", "pearl.meta_batch=2", "pearl.batch_size=8"]
    (row,) = script.main([*tiny, "--updates", "3", "--warmup", "1", "--configs", "configs/pearl/demo.yaml"])
    assert row.updates == 3 and row.samples_per_update == 16 and row.ms_per_update > 0
    assert "| configs/pearl/demo.yaml | cpu | " in capsys.readouterr().out
    with pytest.raises(ValueError, match="trains agent 'rl2'"):
        script.main(["--updates", "1", "--configs", "configs/rl2/demo.yaml"])


def test_agent_numbers_records_then_finds_a_rerun_identical_and_a_change_different(tmp_path, capsys):
    script = load_script("agent_numbers")
    record = tmp_path / "before.json"
    script.main(["--only", "thompson", "maml", "--out", str(record)])
    assert json.loads(record.read_text())["maml"]["scalars"], "the training scalars are recorded"
    capsys.readouterr()
    script.main(["--only", "thompson", "maml", "--compare", str(record)])
    table = capsys.readouterr().out
    assert "| thompson | 1 |" in table and table.count("| identical |") == 2, table
    changed = json.loads(record.read_text())
    changed["maml"]["curve"][0] += 0.5
    record.write_text(json.dumps(changed))
    script.main(["--only", "maml", "--compare", str(record)])
    assert "| 0.5 (curve[0]) |" in capsys.readouterr().out
