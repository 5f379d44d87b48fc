"""Adaptation-curve figures: seeds aggregated, and figures that say what they show (split, tasks,
env steps in labels and title; reference lines; where the agent adapts)."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from metarl.common.config import load_config
from metarl.report.adaptation import load_adaptation, plot_adaptation_curves, write_adaptation
from metarl.report.plotting import (
    Curve,
    adaptation_curves,
    adaptation_figure,
    adaptation_marks,
    curves_title,
    format_steps,
    result_curve,
)
from metarl.report.results import AdaptationResult
from metarl.runner.evaluation import _family, evaluate_adaptation
from metarl.runner.train import make_trainer

ROOT = Path(__file__).resolve().parents[2]
REFERENCES = {"random": -20.0, "optimum": -4.0}
TINY = ["hidden_sizes=[8]", "meta_batch=2", "inner_episodes=2"]  # a small MAML or CAVIA


def fake_result(agent, seed, returns, env="metarl/PointRobot-v0", **optional):
    returns = np.asarray(returns, dtype=float)
    tasks = [{"goal": np.zeros(2, np.float32)}] * len(returns)
    return AdaptationResult(env, "test", agent, tasks, returns, np.ones(returns.shape, np.int64), seed, **optional)


def legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def horizontal(ax):
    """``{linestyle: (y, colour)}`` of the horizontal lines (the references)."""
    return {
        line.get_linestyle(): (line.get_ydata()[0], line.get_color())
        for line in ax.get_lines()
        if len(set(line.get_ydata())) == 1 and list(line.get_xdata()) == [0, 1]
    }


def vertical(ax):
    """x of the vertical lines (adaptation steps), in drawing order."""
    return [line.get_xdata()[0] for line in ax.get_lines() if list(line.get_ydata()) == [0, 1]]


def test_plot_overlays_runs_and_aggregates_seeds(tmp_path):
    a0 = fake_result("pearl", 0, [[-10, -4], [-12, -6], [-11, -5]])
    a1 = fake_result("pearl", 1, [[-9, -3], [-13, -2], [-10, -4]])
    a2 = fake_result("pearl", 2, [[-8, -5], [-11, -3], [-9, -3]])
    b0 = fake_result("random", 0, [[-20, -21], [-19, -20], [-22, -18]])
    curves = adaptation_curves([a0, b0, a1, a2])
    assert [c.label for c in curves] == [
        "pearl on metarl/PointRobot-v0 (test: 3 tasks, 3 seeds: 0, 1, 2)",
        "random on metarl/PointRobot-v0 (test: 3 tasks, seed 0)",
    ]
    per_seed = np.stack([r.returns.mean(axis=0) for r in (a0, a1, a2)])
    np.testing.assert_allclose(curves[0].mean, per_seed.mean(axis=0))
    low, high = stats.t.interval(0.95, 2, loc=per_seed.mean(axis=0), scale=stats.sem(per_seed, axis=0))
    np.testing.assert_allclose(curves[0].ci_low, low)
    np.testing.assert_allclose(curves[0].ci_high, high)
    np.testing.assert_allclose(curves[1].mean, b0.returns.mean(axis=0))  # one run: interval over tasks
    np.testing.assert_array_equal(curves[0].episodes, [1, 2])

    # Without references or adaptation marks: the curves and their intervals only.
    figure = adaptation_figure(curves)
    ax = figure.axes[0]
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 2  # two lines, two shaded intervals
    assert legend(ax) == [c.label for c in curves]

    runs = []
    for i, r in enumerate((a0, a1, a2, b0)):
        write_adaptation(r, tmp_path / f"run{i}")
        runs.append(tmp_path / f"run{i}")
    out = plot_adaptation_curves(runs, tmp_path / "plots" / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in out.parent.iterdir()) == ["curves.png"]  # no temp files left

    with pytest.raises(ValueError, match="different numbers of episodes \\[1, 2\\]"):
        adaptation_curves([a0, fake_result("pearl", 3, [[-1.0], [-2.0]])])
    with pytest.raises(ValueError, match="at least one run"):
        plot_adaptation_curves([], tmp_path / "x.png")


def test_labels_and_title_name_split_tasks_and_env_steps(tmp_path):
    runs = [
        fake_result("maml", 0, [[-9, -5]] * 4, step=1_200_000),
        fake_result("maml", 1, [[-8, -4]] * 4, step=1_500_000),
        fake_result("pearl", 0, [[-7, -3]] * 4, step=20_000),
    ]
    for i, r in enumerate(runs):
        write_adaptation(r, tmp_path / f"run{i}", step=r.step)
    results = [load_adaptation(tmp_path / f"run{i}") for i in range(3)]
    assert [r.step for r in results] == [1_200_000, 1_500_000, 20_000]
    assert [c.label for c in adaptation_curves(results)] == [
        "maml on metarl/PointRobot-v0 (test: 4 tasks, 2 seeds: 0, 1, 1.2M-1.5M env steps)",
        "pearl on metarl/PointRobot-v0 (test: 4 tasks, seed 0, 20k env steps)",
    ]
    assert curves_title(results) == "Adaptation on metarl/PointRobot-v0: 4 tasks of the test set per run"
    assert curves_title([*results, fake_result("a", 0, [[1.0]], env="metarl/AntDir-v0")]) == "Adaptation curves"
    assert [format_steps(s) for s in (7, 999, 20_000, 1_234_567, 3e9)] == ["7", "999", "20k", "1.23M", "3G"]


def test_reference_lines_random_dotted_optimum_dashed_and_labelled():
    result = fake_result("pearl", 0, [[-10, -4], [-12, -6]], references=REFERENCES)
    other = fake_result("rl2", 0, [[-11, -5], [-13, -7]], references=REFERENCES)
    ax = adaptation_figure(adaptation_curves([result, other])).axes[0]
    assert horizontal(ax) == {":": (-20.0, "black"), "--": (-4.0, "black")}  # shared by both: drawn once
    assert legend(ax)[2:] == ["random policy (-20)", "known-task optimum (-4)"]

    # Different references (e.g. two envs): one set per curve, in the curve's colour.
    third = fake_result("rl2", 0, [[1, 2]], env="metarl/AntDir-v0", references={"random": -50.0})
    ax = adaptation_figure(adaptation_curves([result, third])).axes[0]
    curve_colours = [line.get_color() for line in ax.get_lines()[:2]]
    refs = [(line.get_ydata()[0], line.get_color()) for line in ax.get_lines()[2:]]
    assert refs == [(-20.0, curve_colours[0]), (-4.0, curve_colours[0]), (-50.0, curve_colours[1])]

    # Seeds: the references are averaged over the runs that all carry them.
    seeds = [fake_result("pearl", s, [[-9, -3]], references={"random": -20.0 - s, "optimum": -4.0}) for s in range(3)]
    assert adaptation_curves(seeds)[0].references == {"random": -21.0, "optimum": -4.0}
    assert adaptation_curves([*seeds, fake_result("pearl", 9, [[-9, -3]])])[0].references is None


def test_vertical_lines_mark_where_the_agent_adapts():
    maml = fake_result("maml", 0, [[-9, -9, -5, -5, -4, -4]] * 2, adaptation_episodes=2, adaptation_updates=2)
    ax = adaptation_figure([result_curve(maml)]).axes[0]
    assert vertical(ax) == [2.5, 4.5]  # inner steps after episodes 2 and 4
    assert legend(ax)[1:] == ["maml: adapts after every 2 episodes"]  # one legend entry for all marks
    assert ax.get_lines()[1].get_color() == ax.get_lines()[0].get_color()

    curve = result_curve(maml)
    limited = dataclasses.replace(curve, adaptation_updates=1)
    unlimited = dataclasses.replace(curve, adaptation_updates=None, adaptation_episodes=1)
    assert adaptation_marks(limited) == [2.5]  # no step after the last one the agent takes
    assert adaptation_marks(unlimited) == [1.5, 2.5, 3.5, 4.5, 5.5]  # never after the last episode
    assert adaptation_marks(dataclasses.replace(curve, adaptation_episodes=None)) == []
    assert adaptation_marks(Curve("x", np.arange(1, 3), *np.zeros((3, 2)), adaptation_episodes=2)) == []

    # Seeds with different inner batches draw no marks (they would disagree).
    other = dataclasses.replace(maml, seed=1, adaptation_episodes=3)
    assert adaptation_curves([maml, other])[0].adaptation_episodes is None


class FigureWriter:
    def add_scalar(self, tag, value, step=None):
        pass

    def add_figure(self, tag, figure, step=None):
        self.figure = figure


def test_the_figure_written_at_each_evaluation_says_the_same(tmp_path):
    maml = fake_result("maml", 0, [[-9, -9, -5, -5]] * 3, adaptation_episodes=2, adaptation_updates=1)
    writer = FigureWriter()
    write_adaptation(maml, tmp_path, writer=writer, step=40_000, references=REFERENCES)
    ax = writer.figure.axes[0]
    assert ax.get_title() == "maml on metarl/PointRobot-v0\n3 tasks of the test set, after 40k env steps"
    assert legend(ax)[0] == "maml on metarl/PointRobot-v0 (test: 3 tasks, seed 0, 40k env steps)"
    assert horizontal(ax) == {":": (-20.0, "black"), "--": (-4.0, "black")}
    assert vertical(ax) == [2.5]
    assert maml.step is None and maml.references is None  # the caller's result is left as it was
    back = load_adaptation(tmp_path)
    assert (back.step, back.adaptation_episodes, back.adaptation_updates) == (40_000, 2, 1)
    assert back.references == REFERENCES
    ax = adaptation_figure(adaptation_curves([back])).axes[0]
    assert vertical(ax) == [2.5] and horizontal(ax) == {":": (-20.0, "black"), "--": (-4.0, "black")}


@pytest.mark.parametrize("agent", ["maml", "cavia"])
def test_maml_and_cavia_record_their_inner_batches(agent):
    cfg = load_config(ROOT / "configs" / agent / "demo.yaml", [f"{agent}.{k}" for k in TINY])
    trainer = make_trainer(cfg, "cpu")
    tasks = _family(cfg.env.id, {}).task_set("test")[:2]
    result = evaluate_adaptation(trainer.agent, cfg.env.id, episodes=4, tasks=tasks, env_kwargs=cfg.env.kwargs)
    assert (result.adaptation_episodes, result.adaptation_updates) == (2, cfg.agent_config.meta_test_steps) == (2, 1)
    assert adaptation_marks(result_curve(result)) == [2.5]  # one inner step, after episode 2
