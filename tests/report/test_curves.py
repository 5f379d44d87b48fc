"""Meta-test return against env steps: ``metarl curve`` reads periodic evaluations back from
TensorBoard, prints them, finds when a target was reached and draws them."""

import math

import numpy as np
import pytest
from torch.utils.tensorboard import SummaryWriter

from metarl import cli
from metarl.report.curves import learning_curve
from metarl.report.plotting import learning_curve_figure

# Periodic evaluations of a fake run: env steps -> mean return of episodes 1 and 2.
EVALS = {1000: (-10.0, -8.0), 2000: (-7.0, -4.0), 3000: (-6.0, -3.5)}


def write_run(run_dir, ci95=None):
    with SummaryWriter(str(run_dir)) as writer:
        for step, returns in EVALS.items():
            for k, value in enumerate(returns, start=1):
                writer.add_scalar(f"eval/adaptation/return_ep{k}", value, step)
                if ci95 is not None:
                    writer.add_scalar(f"eval/adaptation/ci95_ep{k}", ci95, step)
            writer.add_scalar("charts/episodic_return", 0.0, step)  # other tags are ignored
    return run_dir


def test_learning_curve_reads_every_evaluation_and_finds_the_target(tmp_path):
    curve = learning_curve(write_run(tmp_path / "run"))
    assert curve.steps == [1000, 2000, 3000] and curve.episodes == [1, 2]
    np.testing.assert_allclose(curve.returns, list(EVALS.values()))
    assert curve.adapted_returns() == [-8.0, -4.0, -3.5]
    assert curve.first_reaching(-4.0) == 1 and curve.first_reaching(0.0) is None
    assert all(math.isfinite(s) and s >= 0 for s in curve.seconds)


def test_figure_draws_first_and_last_episode_against_steps_and_the_target(tmp_path):
    curve = learning_curve(write_run(tmp_path / "run"))
    ax = learning_curve_figure({"a": curve, "b": curve}, target=-5.0).axes[0]
    first, last, first_b, last_b, target = ax.get_lines()
    np.testing.assert_array_equal(first.get_xdata(), [1000, 2000, 3000])
    np.testing.assert_array_equal(first.get_ydata(), [-10.0, -7.0, -6.0])
    np.testing.assert_array_equal(last.get_ydata(), [-8.0, -4.0, -3.5])
    assert first.get_color() == last.get_color() != first_b.get_color() == last_b.get_color()
    assert last.get_linestyle() == "--" and list(target.get_ydata()) == [-5.0, -5.0]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[:2] == ["a, episode 1 (before adapting)", "a, episode 2"]
    assert ax.get_title() == "Meta-test return during training" and not ax.collections  # no interval logged


def test_figure_draws_95_percent_bands_where_the_run_logged_them(tmp_path):
    curve = learning_curve(write_run(tmp_path / "run", ci95=0.5))
    assert curve.ci95 == [[0.5, 0.5]] * 3
    ax = learning_curve_figure({"a": curve}, title="PEARL on the point robot").axes[0]
    first_band, last_band = ax.collections
    lows = first_band.get_paths()[0].vertices[:, 1]
    np.testing.assert_allclose(sorted(set(np.round(lows, 6)))[:1], [-10.5])
    assert len(last_band.get_paths()) == 1 and ax.get_title() == "PEARL on the point robot"


def test_curve_command_prints_the_table_and_writes_the_figure(tmp_path, capsys):
    run = write_run(tmp_path / "run")
    out = tmp_path / "figs" / "curve.png"
    assert cli.main(["curve", str(run), "--target=-4", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = [line.split() for line in printed.splitlines()]
    assert any(row[:1] == ["2,000"] and row[2:] == ["-7.00", "-4.00"] for row in rows)  # steps, minutes, returns
    assert "reached -4.0 at 2,000 env steps" in printed
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def write_long_run(run_dir, episodes=10):
    with SummaryWriter(str(run_dir)) as writer:
        for k in range(1, episodes + 1):
            writer.add_scalar(f"eval/adaptation/return_ep{k}", float(k), 1000)
    return run_dir


def test_curve_command_prints_first_and_last_of_many_episodes_or_those_asked(tmp_path, capsys):
    run = str(write_long_run(tmp_path / "run"))
    assert cli.main(["curve", run]) == 0
    header, _, row = capsys.readouterr().out.splitlines()[1:4]
    assert header.split()[3:] == ["episode", "1", "episode", "10"] and row.split()[2:] == ["1.00", "10.00"]
    assert cli.main(["curve", run, "--episodes", "2", "5"]) == 0
    assert capsys.readouterr().out.splitlines()[3].split()[2:] == ["2.00", "5.00"]
    assert cli.main(["curve", run, "--episodes", "3", "11"]) == 2
    assert "--episodes [11] were not evaluated; allowed: 1..10" in capsys.readouterr().err


def test_curve_minutes_are_training_time_where_the_run_counted_it(tmp_path):
    run = write_run(tmp_path / "run")
    with SummaryWriter(str(run)) as writer:  # the training loop logs it at each periodic evaluation
        writer.add_scalar("perf/train_seconds", 60.0, 1000)
        writer.add_scalar("perf/train_seconds", 150.0, 2000)
    seconds = learning_curve(run).seconds
    assert seconds[:2] == [60.0, 150.0] and math.isnan(seconds[2])  # 3000: evaluated after training


def test_reference_scores_of_the_final_evaluation_are_drawn_as_lines(tmp_path):
    run = write_run(tmp_path / "run")
    with SummaryWriter(str(run)) as writer:
        writer.add_scalar("eval/reference/random", -20.0, 3000)
        writer.add_scalar("eval/reference/optimum", -3.9, 3000)
    curve = learning_curve(run)
    assert curve.references == {"random": -20.0, "optimum": pytest.approx(-3.9)}
    ax = learning_curve_figure({"a": curve}).axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "random policy (-20)" in labels and "known-task optimum (-3.9)" in labels
