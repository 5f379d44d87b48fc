"""Meta-World's protocol arithmetic: success at any step of an episode, per-class rates averaged
over classes (not pooled over tasks), intervals, the files and their round trip."""

import json

import numpy as np
import pytest
import torch
from gymnasium import spaces

from metarl.core.generic_vector import GenericVectorEnv
from metarl.core.meta_env import MetaEnv
from metarl.report.adaptation import load_adaptation, write_adaptation
from metarl.report.results import AdaptationResult
from metarl.report.success import class_averaged, success_report, wilson
from metarl.runner.evaluation import run_adaptation


class FlashOfSuccess(MetaEnv):
    """Succeeds at exactly one step of each episode (``task["when"]``, -1: never), for 5 steps."""

    task_space = spaces.Dict({"when": spaces.Discrete(6, start=-1)})
    observation_space = spaces.Box(-1.0, 10.0, (1,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)
    info_keys = ("success",)
    evaluation_episodes = 1

    def __init__(self, task=None):
        self._init_task(task)

    def _sample_task_batch(self, rng, n, distribution):
        return {"when": rng.integers(-1, 5, n)}

    def _apply_task(self, task):
        self.when = int(task["when"])

    def task_group(self, task):
        return "never" if int(task["when"]) < 0 else "sometimes"

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._reset_task_option(options)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.array([self.t], np.float32), 1.0, False, self.t == 5, {"success": float(self.t - 1 == self.when)}


class Idle:
    def begin_task(self, n):
        return None

    def act(self, obs, state, deterministic):
        return torch.zeros(len(obs), 1), state

    def observe(self, state, transition):
        return state

    def end_episode(self, state):
        return state


def test_an_episode_succeeds_when_success_is_1_at_any_step():
    env = GenericVectorEnv(FlashOfSuccess, 3, tasks={"when": np.array([0, 4, -1])}, autoreset_mode="disabled",
                           max_episode_steps=5)  # fmt: skip
    rollout = run_adaptation(Idle(), env, 2)
    # success at the first step, at the last, never; the flag of one step is not the episode's
    np.testing.assert_array_equal(rollout.successes.numpy(), [[True, True], [True, True], [False, False]])
    np.testing.assert_array_equal(rollout.returns.numpy(), np.full((3, 2), 5.0))


def _result(successes, groups, evaluation_episodes=2):
    successes = np.asarray(successes, dtype=bool)
    n, k = successes.shape
    return AdaptationResult("test/Flash-v0", "test", "Idle", [{"when": np.int64(i)} for i in range(n)],
                            np.arange(n * k, dtype=np.float64).reshape(n, k), np.full((n, k), 5), 0,
                            successes=successes, groups=groups, evaluation_episodes=evaluation_episodes)  # fmt: skip


def test_success_rates_are_per_class_then_averaged_over_classes():
    # class a: 3 tasks, evaluation episodes (the last 2) succeed 6 of 6; class b: 1 task, 0 of 2.
    result = _result([[0, 1, 1], [0, 1, 1], [1, 1, 1], [1, 0, 0]], ["a", "a", "a", "b"])
    report = success_report(result)
    assert (report.adaptation_episodes, report.evaluation_episodes) == (1, 2)
    a, b = report.classes
    assert (a.name, a.tasks, a.episodes, a.successes, a.success_rate) == ("a", 3, 6, 6, 1.0)
    assert (b.name, b.successes, b.success_rate) == ("b", 0, 0.0)
    assert report.overall.success_rate == 0.5  # the mean of the classes; pooled over tasks it would be 0.75
    assert a.mean_return == pytest.approx(np.mean([1, 2, 4, 5, 7, 8])) and b.mean_return == pytest.approx(10.5)
    assert report.overall.ci_low <= 0.5 <= report.overall.ci_high
    assert [c[1] for c in report.curve] == [0.5 * (1 / 3) + 0.5, 0.5, 0.5]  # episode 1: a 1/3, b 1


def test_wilson_and_bootstrap_intervals():
    low, high = wilson(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson(10, 10)
    assert high == pytest.approx(1.0) and low == pytest.approx(0.7225, abs=1e-4)
    assert np.isnan(wilson(0, 0)[0])
    values = np.array([[1.0], [1.0], [0.0], [0.0]])
    mean, low, high = class_averaged(values, ["a", "a", "b", "b"])[:, 0]
    assert mean == low == high == 0.5  # no spread within a class: the interval is a point


def test_success_files_round_trip(tmp_path):
    result = _result([[0, 1, 1], [1, 0, 1], [0, 0, 0]], ["door", "door", "reach"])
    folder = write_adaptation(result, tmp_path, step=100)
    loaded = load_adaptation(tmp_path)
    np.testing.assert_array_equal(loaded.successes, result.successes)
    assert loaded.groups == result.groups and loaded.evaluation_episodes == 2
    meta = json.loads((folder / "success.json").read_text())
    assert meta["overall"]["success_rate"] == pytest.approx((0.75 + 0.0) / 2)
    assert [c["name"] for c in meta["classes"]] == ["door", "reach"] and meta["step"] == 100
    lines = (folder / "success.csv").read_text().splitlines()
    assert lines[0].startswith("class,tasks,episodes,successes,success_rate") and lines[-1].startswith("overall,3,6,3,")
    assert (folder / "success.png").stat().st_size > 0


def test_results_without_success_have_no_protocol():
    result = _result([[0, 1, 1]], ["a"])
    result.successes = None
    with pytest.raises(ValueError, match="only families reporting success"):
        success_report(result)
    with pytest.raises(ValueError, match="evaluation_episodes must be an integer in"):
        _result([[0, 1, 1]], ["a"], evaluation_episodes=4)
