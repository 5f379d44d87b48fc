"""benchmarks/metaworld_experts.py: the mujoco 4.0 side on tiny settings (the mujoco 3.3.0 side
needs a venv from PyPI, so it is left out here), and its statistics and table on made-up results."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("metaworld")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def script():
    """The script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("metaworld_experts", ROOT / "benchmarks" / "metaworld_experts.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["metaworld_experts"] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


def test_reach_expert_succeeds_on_our_env_and_not_before_it_gets_there(script, tmp_path, capsys):
    out = tmp_path / "experts.json"
    args = ["--sides", "ours", "--classes", "reach-v3", "--tasks", "2", "--max-steps", "100", "--json", str(out)]
    (reach,) = script.main(args)
    ours = reach.sides["ours"]
    # The expert reaches both goals within 100 steps (about 45 on these tasks); every step earns reward.
    assert ours.success == [True, True] and all(r > 100 for r in ours.returns)
    assert len({tuple(v) for v in ours.rand_vecs}) == 2 and all(len(v) == 6 for v in ours.rand_vecs)
    table = capsys.readouterr().out
    assert "| reach-v3 | 1.00 [0.34, 1.00] |" in table and "mujoco 3.3.0" not in table
    record = json.loads(out.read_text())
    assert record["versions"]["ours"]["mujoco"].startswith("4.")
    assert record["classes"]["reach-v3"]["ours"]["success"] == [True, True]
    # Success is read from the steps taken: 10 steps are too few to reach the goal.
    (short,) = script.main(["--sides", "ours", "--classes", "reach-v3", "--tasks", "2", "--max-steps", "10"])
    assert short.sides["ours"].success == [False, False]


def test_wilson_interval_and_the_flag(script):
    assert script.wilson(50, 50) == pytest.approx((0.9287, 1.0), abs=1e-4)
    assert script.wilson(25, 50) == pytest.approx((0.3664, 0.6336), abs=1e-4)
    side = script.SideResult
    tasks = [[0.1 * i] for i in range(50)]
    same = script.ClassResult("x", {"farama": side([True] * 50, [1.0] * 50, tasks),
                                    "ours": side([True] * 45 + [False] * 5, [0.5] * 50, tasks)})  # fmt: skip
    apart = script.ClassResult("y", {"farama": side([True] * 50, [1.0] * 50, tasks),
                                     "ours": side([True] * 25 + [False] * 25, [0.5] * 50, tasks)})  # fmt: skip
    assert not same.flagged and same.differing == 5 and same.same_tasks
    assert apart.flagged and apart.differing == 25
    text = script.table([same, apart], ["farama", "ours"]) + "\n" + script.summary([same, apart], ["farama", "ours"])
    assert "| y | 1.00 [0.93, 1.00] | 0.50 [0.37, 0.63] | -0.50 | 1.0 | 0.5 | -0.5 | 25 | **differs** |" in text
    assert "beyond the 95% Wilson intervals: y" in text and "below 0.9: y (0.50)" in text


def test_refuses_unknown_classes_and_too_many_tasks(script, capsys):
    for args in (["--classes", "reach-v9"], ["--tasks", "51"], ["--max-steps", "0"]):
        with pytest.raises(SystemExit):
            script.main(["--sides", "ours", *args])
    err = capsys.readouterr().err
    assert "unknown classes ['reach-v9']" in err and "got 51" in err and "got 0" in err
