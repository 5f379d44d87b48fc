"""The adaptation interface, the one evaluation rollout and its files (plots: tests/report/test_plotting.py)."""

import csv
import json

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from matplotlib.figure import Figure
from scipy import stats

import metarl  # noqa: F401  (registers the families)
from metarl.common.protocol import Agent, RandomAgent, TaskAware, Transition
from metarl.report.adaptation import load_adaptation, write_adaptation
from metarl.report.results import AdaptationResult, mean_ci
from metarl.runner.evaluation import evaluate_adaptation, run_adaptation


def make_vec(env_id, tasks, **kwargs):
    return gym.make_vec(
        env_id, num_envs=len(tasks), vectorization_mode="vector_entry_point", tasks=tasks, autoreset_mode="disabled",
        **kwargs,
    )


# ----- scripted agents (all batched on tensors) -------------------------------------------------
class ProbeThenGoAgent:
    """PointRobot: in episode 1 it makes two probe moves, (0.1, 0) then (0, 0.1), and then stays;
    from the two rewards (minus the distance) and |goal| = 1 it solves for the goal. From episode 2
    on it heads straight to its estimate."""

    name = "probe-then-go"
    moves = torch.tensor([[0.1, 0.0], [0.0, 0.1], [0.0, 0.0]])

    def begin_task(self, n):
        return {"goal": torch.zeros(n, 2), "t": torch.zeros(n, dtype=torch.int64), "episode": 0}

    def act(self, obs, state, deterministic):
        if state["episode"] == 0:
            return self.moves[state["t"].clamp(max=2)], state
        return (state["goal"] - obs).clamp(-0.1, 0.1), state

    def observe(self, state, tr):
        goal, t = state["goal"].clone(), state["t"]
        if state["episode"] == 0:
            d2 = tr.reward.double() ** 2  # |p - g|^2 = |p|^2 - 2 p.g + 1
            gx = (1.01 - d2) / 0.2  # p = (0.1, 0)
            goal[:, 0] = torch.where(tr.valid & (t == 0), gx.float(), goal[:, 0])
            gy = (1.02 - d2) / 0.2 - goal[:, 0].double()  # p = (0.1, 0.1)
            goal[:, 1] = torch.where(tr.valid & (t == 1), gy.float(), goal[:, 1])
        return {"goal": goal, "t": t + tr.valid.long(), "episode": state["episode"]}

    def end_episode(self, state):
        return {"goal": state["goal"], "t": torch.zeros_like(state["t"]), "episode": state["episode"] + 1}


class GoToGoalAgent:
    """An oracle that knows each task's goal and moves straight to it (Navigation2D terminates
    there, so episode lengths differ across tasks)."""

    def __init__(self, goals):
        self.goals = goals

    def begin_task(self, n):
        assert n == len(self.goals)
        return None

    def act(self, obs, state, deterministic):
        return (self.goals - obs).clamp(-0.1, 0.1), state

    def observe(self, state, transition):
        return state

    def end_episode(self, state):
        return state


class TryArmsAgent:
    """Bandit: pulls arms 0, 1, 2, ... until one pays, then keeps pulling that one."""

    def begin_task(self, n):
        return {"arm": torch.zeros(n, dtype=torch.int64), "found": torch.zeros(n, dtype=torch.bool)}

    def act(self, obs, state, deterministic):
        return state["arm"].clone(), state

    def observe(self, state, tr):
        found = state["found"] | (tr.valid & (tr.reward > 0))
        arm = torch.where(found | ~tr.valid, tr.action, tr.action + 1)
        return {"arm": arm, "found": found}

    def end_episode(self, state):
        return state


class Recorder:
    """Wraps an agent and records the calls and, per episode, the transitions it observed."""

    def __init__(self, inner):
        self.inner = inner
        self.name = getattr(inner, "name", type(inner).__name__)
        self.calls, self.episodes = [], [[]]

    def begin_task(self, n):
        self.calls.append(("begin_task", n))
        return self.inner.begin_task(n)

    def act(self, obs, state, deterministic):
        self.calls.append(("act", deterministic))
        return self.inner.act(obs, state, deterministic)

    def observe(self, state, transition):
        self.calls.append(("observe",))
        self.episodes[-1].append(transition)
        return self.inner.observe(state, transition)

    def end_episode(self, state):
        self.calls.append(("end_episode",))
        self.episodes.append([])
        return self.inner.end_episode(state)


def count(calls, name):
    return sum(c[0] == name for c in calls)


# ----- the rollout ------------------------------------------------------------------------------
def test_the_curve_shows_an_agent_that_learns_the_goal_in_episode_one():
    agent = ProbeThenGoAgent()
    result = evaluate_adaptation(agent, "metarl/PointRobot-v0", episodes=3, seed=0)
    assert result.agent == "probe-then-go" and result.split == "test" and result.returns.shape == (30, 3)
    first, second, third = result.summary()
    assert second.ci_low > first.ci_high and second.mean > first.mean + 5
    np.testing.assert_array_equal(result.returns[:, 1], result.returns[:, 2])  # nothing left to learn
    assert (result.lengths == 20).all()
    # The goal was inferred from the rewards alone.
    tasks = result.tasks
    rollout = run_adaptation(agent, make_vec("metarl/PointRobot-v0", tasks), 1)
    np.testing.assert_allclose(rollout.state["goal"].numpy(), np.stack([t["goal"] for t in tasks]), atol=1e-4)


class TaskGivenGoToGoalAgent(GoToGoalAgent):
    """The same oracle, told its goals through the ``TaskAware`` hook instead of its constructor."""

    def __init__(self):
        super().__init__(goals=None)
        self.given = []

    def set_tasks(self, tasks):
        self.given.append(tasks)
        self.goals = tasks["goal"]


def test_a_task_aware_agent_is_given_the_tasks_before_each_adaptation():
    agent = TaskGivenGoToGoalAgent()
    assert isinstance(agent, TaskAware) and not isinstance(ProbeThenGoAgent(), TaskAware)
    result = evaluate_adaptation(agent, "metarl/Navigation2D-v0", episodes=2, seed=0)
    (given,) = agent.given  # once per adaptation, before begin_task (which checks the count)
    assert set(given) == {"goal"} and isinstance(given["goal"], torch.Tensor) and given["goal"].shape == (30, 2)
    np.testing.assert_allclose(given["goal"].numpy(), np.stack([t["goal"] for t in result.tasks]), atol=1e-7)
    told = evaluate_adaptation(GoToGoalAgent(given["goal"]), "metarl/Navigation2D-v0", episodes=2, seed=0)
    np.testing.assert_array_equal(result.returns, told.returns)


def test_episodes_of_different_lengths_match_independent_single_envs():
    env_id = "metarl/Navigation2D-v0"
    tasks = gym.make(env_id).unwrapped.task_set("test")
    goals = torch.as_tensor(np.stack([t["goal"] for t in tasks]))
    agent = Recorder(GoToGoalAgent(goals))
    result = evaluate_adaptation(agent, env_id, episodes=2, seed=3)
    n, lengths = len(tasks), result.lengths
    assert len(np.unique(lengths[:, 0])) > 2 and lengths.max() < 100  # early, unequal terminations

    # Calls: one begin_task for all tasks, act/observe once per lockstep step, one end_episode per episode.
    assert agent.calls[0] == ("begin_task", n) and count(agent.calls, "begin_task") == 1
    assert count(agent.calls, "end_episode") == 2
    assert all(c == ("act", True) for c in agent.calls if c[0] == "act")
    for k in range(2):
        steps = agent.episodes[k]
        assert len(steps) == lengths[:, k].max()
        for t, tr in enumerate(steps):
            assert isinstance(tr, Transition)
            np.testing.assert_array_equal(tr.valid.numpy(), t < lengths[:, k])
            np.testing.assert_array_equal(tr.done.numpy(), t == lengths[:, k] - 1)  # ends exactly once
            pad = ~tr.valid
            assert torch.equal(tr.next_obs[pad], tr.obs[pad]) and (tr.reward[pad] == 0).all()
            if t > 0:  # finished sub-envs keep their last observation
                assert torch.equal(tr.obs[pad], steps[t - 1].next_obs[pad])

    # Replaying each task's valid actions in its own single env gives the same episodes.
    for i, task in enumerate(tasks):
        single = gym.make(env_id, task=task)
        for k in range(2):
            obs, _ = single.reset(seed=3 if k == 0 else None)
            total = 0.0
            for t in range(lengths[i, k]):
                tr = agent.episodes[k][t]
                np.testing.assert_allclose(obs, tr.obs[i].numpy(), atol=1e-6)
                obs, reward, terminated, truncated, _ = single.step(tr.action[i].numpy())
                total += reward
                assert (terminated or truncated) == (t == lengths[i, k] - 1)
            assert total == pytest.approx(result.returns[i, k], rel=1e-6, abs=1e-6)


def test_bandit_trial_of_one_pull_episodes():
    """Horizon 1: each episode is one pull and the K = 10 episodes (the default trial) form the trial."""
    env_id = "metarl/BernoulliBandit-v0"
    tasks = [{"arm_probs": np.eye(5, dtype=np.float32)[i % 5]} for i in range(10)]  # arm i % 5 always pays
    agent = Recorder(TryArmsAgent())
    result = evaluate_adaptation(agent, env_id, tasks=tasks)
    assert result.split == "custom" and result.returns.shape == (10, 10) and (result.lengths == 1).all()
    best = np.arange(10) % 5
    np.testing.assert_array_equal(result.returns, (np.arange(10)[None, :] >= best[:, None]).astype(float))
    assert [count(agent.calls, c) for c in ("begin_task", "act", "observe", "end_episode")] == [1, 10, 10, 10]
    assert all(tr.valid.all() and tr.terminated.all() for ep in agent.episodes for tr in ep)

    # Random pulls on the test set: 0/1 rewards, reproducible under the same seeds.
    space = gym.make(env_id).action_space
    a = evaluate_adaptation(RandomAgent(space, seed=1), env_id, seed=5)
    b = evaluate_adaptation(RandomAgent(space, seed=1), env_id, seed=5)
    assert a.returns.shape == (30, 10) and set(np.unique(a.returns)) <= {0.0, 1.0}
    np.testing.assert_array_equal(a.returns, b.returns)


def test_family_options_and_backend_options_reach_the_env():
    env_id = "metarl/BernoulliBandit-v0"
    result = evaluate_adaptation(RandomAgent(spaces.Discrete(3)), env_id, episodes=2, env_kwargs={"num_arms": 3})
    assert result.tasks[0]["arm_probs"].shape == (3,)
    cheetah = "metarl/HalfCheetahVel-v0"
    agent = RandomAgent(gym.make(cheetah).action_space)
    tasks = gym.make(cheetah).unwrapped.task_set("test")[:2]
    result = evaluate_adaptation(agent, cheetah, episodes=1, tasks=tasks, env_kwargs={"backend": "mujoco"})
    assert result.returns.shape == (2, 1) and (result.lengths == 200).all() and np.isfinite(result.returns).all()


def test_rollout_rejects_what_it_cannot_run():
    tasks = gym.make("metarl/PointRobot-v0").unwrapped.task_set("test")[:2]
    env = make_vec("metarl/PointRobot-v0", tasks)
    agent = ProbeThenGoAgent()
    with pytest.raises(ValueError, match="episodes must be a positive integer, got 0"):
        run_adaptation(agent, env, 0)
    with pytest.raises(TypeError, match="is not an Agent"):
        run_adaptation(object(), env, 1)
    same_step = gym.make_vec("metarl/PointRobot-v0", num_envs=2, vectorization_mode="vector_entry_point")
    with pytest.raises(ValueError, match="autoreset disabled"):
        run_adaptation(agent, same_step, 1)

    class OneAction(ProbeThenGoAgent):
        def act(self, obs, state, deterministic):
            return torch.zeros(1, 2), state

    with pytest.raises(ValueError, match="must return a tensor of 2 actions, got \\(1, 2\\)"):
        run_adaptation(OneAction(), env, 1)
    with pytest.raises(ValueError, match="unknown task split 'validation'"):
        evaluate_adaptation(agent, "metarl/PointRobot-v0", split="validation")


# ----- results and files ------------------------------------------------------------------------
def test_confidence_interval_is_student_t_over_tasks():
    returns = np.random.default_rng(0).normal(size=(7, 3))
    result = AdaptationResult("e", "test", "a", [{"x": np.zeros(1)}] * 7, returns, np.ones((7, 3), np.int64))
    for k, s in enumerate(result.summary()):
        low, high = stats.t.interval(0.95, 6, loc=returns[:, k].mean(), scale=stats.sem(returns[:, k]))
        assert (s.episode, s.n) == (k + 1, 7)
        assert s.mean == pytest.approx(returns[:, k].mean()) and (s.ci_low, s.ci_high) == pytest.approx((low, high))
    mean, low, high = mean_ci(returns[:1])
    assert np.isnan(low).all() and np.isnan(high).all() and np.array_equal(mean, returns[0])


class FakeWriter:
    def __init__(self):
        self.scalars, self.figures = {}, []

    def add_scalar(self, tag, value, step=None):
        self.scalars[tag] = (value, step)

    def add_figure(self, tag, figure, step=None):
        self.figures.append((tag, figure, step))


def test_write_adaptation_files_and_tensorboard(tmp_path):
    result = evaluate_adaptation(ProbeThenGoAgent(), "metarl/PointRobot-v0", episodes=2, seed=4)
    writer = FakeWriter()
    folder = write_adaptation(result, tmp_path, writer=writer, step=7)
    assert folder == tmp_path / "eval"
    assert sorted(p.name for p in folder.iterdir()) == ["adaptation.csv", "adaptation.json", "adaptation.png"]

    with open(folder / "adaptation.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["task_index", "goal_0", "goal_1", "episode", "return", "length"]
    assert len(rows) == 30 * 2
    row = rows[2 * 5 + 1]  # task 5, episode 2
    assert (int(row["task_index"]), int(row["episode"])) == (5, 2)
    assert float(row["return"]) == result.returns[5, 1] and int(row["length"]) == 20
    assert np.float32(row["goal_1"]) == result.tasks[5]["goal"][1]

    meta = json.loads((folder / "adaptation.json").read_text())
    assert {k: meta[k] for k in ("env", "split", "agent", "episodes", "n_tasks", "seed")} == {
        "env": "metarl/PointRobot-v0", "split": "test", "agent": "probe-then-go", "episodes": 2, "n_tasks": 30,
        "seed": 4,
    }
    for entry, s in zip(meta["per_episode"], result.summary(), strict=True):
        assert entry == {"episode": s.episode, "mean": s.mean, "ci_low": s.ci_low, "ci_high": s.ci_high, "n": 30}
    assert (folder / "adaptation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    assert meta["step"] == 7
    assert writer.scalars == {
        **{f"eval/adaptation/return_ep{s.episode}": (s.mean, 7) for s in result.summary()},
        **{f"eval/adaptation/ci95_ep{s.episode}": (s.ci_high - s.mean, 7) for s in result.summary()},
    }
    [(tag, figure, step)] = writer.figures
    assert tag == "eval/adaptation" and isinstance(figure, Figure) and step == 7

    for where in (tmp_path, folder, folder / "adaptation.json"):
        back = load_adaptation(where)
        assert (back.env_id, back.split, back.agent, back.seed) == ("metarl/PointRobot-v0", "test", "probe-then-go", 4)
        np.testing.assert_array_equal(back.returns, result.returns)
        np.testing.assert_array_equal(back.lengths, result.lengths)
        assert all(np.array_equal(a["goal"], b["goal"]) for a, b in zip(back.tasks, result.tasks, strict=True))
    with pytest.raises(FileNotFoundError, match="no adaptation result"):
        load_adaptation(tmp_path / "missing")


def test_a_real_summary_writer_gets_the_scalars_and_the_figure(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(tmp_path / "tb")
    write_adaptation(fake_result("a", 0, [[1.0, 2.0], [3.0, 5.0]]), tmp_path, writer=writer, step=3)
    writer.close()
    events = EventAccumulator(str(tmp_path / "tb"))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == [
        "eval/adaptation/ci95_ep1", "eval/adaptation/ci95_ep2", "eval/adaptation/return_ep1", "eval/adaptation/return_ep2"
    ]  # fmt: skip
    assert [(e.step, e.value) for e in events.Scalars("eval/adaptation/return_ep2")] == [(3, 3.5)]
    assert events.Tags()["images"] == ["eval/adaptation"]


def test_task_parameters_in_the_csv_round_trip_exactly(tmp_path):
    rng = np.random.default_rng(1)
    tasks = [
        {
            "velocity": np.float32(rng.uniform()).reshape(()),  # scalar: one column
            "goal": rng.integers(0, 5, 2),  # small int vector: goal_0, goal_1
            "scale": rng.uniform(size=(2, 3)).astype(np.float32),  # small 2-D: scale_0..scale_5
            "transitions": rng.uniform(size=(4, 5)).astype(np.float32),  # 20 > 16 values: one JSON-list column
        }
        for _ in range(2)
    ]
    result = AdaptationResult("e", "ood", "a", tasks, np.array([[1.0], [np.pi]]), np.array([[3], [4]]), None)
    write_adaptation(result, tmp_path)
    header = (tmp_path / "eval" / "adaptation.csv").read_text().splitlines()[0].split(",")
    assert header == [
        "task_index", "velocity", "goal_0", "goal_1", *[f"scale_{j}" for j in range(6)], "transitions",
        "episode", "return", "length",
    ]
    meta = json.loads((tmp_path / "eval" / "adaptation.json").read_text())
    assert meta["per_episode"][0]["ci_low"] is not None and meta["seed"] is None
    back = load_adaptation(tmp_path)
    np.testing.assert_array_equal(back.returns, result.returns)
    for a, b in zip(back.tasks, tasks, strict=True):
        for name in b:
            assert a[name].dtype == b[name].dtype and a[name].shape == b[name].shape
            np.testing.assert_array_equal(a[name], b[name])


def test_a_single_task_has_no_interval_and_writes_null(tmp_path):
    result = AdaptationResult("e", "test", "a", [{"x": np.zeros(1)}], np.array([[1.0, 2.0]]), np.ones((1, 2), int))
    write_adaptation(result, tmp_path)
    meta = json.loads((tmp_path / "eval" / "adaptation.json").read_text())
    assert [(e["mean"], e["ci_low"], e["ci_high"]) for e in meta["per_episode"]] == [(1.0, None, None), (2.0, None, None)]


def test_references_and_adaptation_marks_round_trip_and_old_files_still_load(tmp_path):
    agent = TryArmsAgent()
    agent.adaptation_episodes, agent.adaptation_updates = 3, 2
    result = evaluate_adaptation(agent, "metarl/BernoulliBandit-v0", episodes=4)
    assert (result.adaptation_episodes, result.adaptation_updates, result.references) == (3, 2, None)
    writer = FakeWriter()
    refs = {"random": 0.5, "optimum": 0.8}
    folder = write_adaptation(result, tmp_path, writer=writer, step=9, references=refs)
    meta = json.loads((folder / "adaptation.json").read_text())
    assert meta["references"] == refs and (meta["adaptation_episodes"], meta["adaptation_updates"]) == (3, 2)
    assert {k: v for k, v in writer.scalars.items() if k.startswith("eval/reference/")} == {
        "eval/reference/random": (0.5, 9), "eval/reference/optimum": (0.8, 9)
    }
    back = load_adaptation(tmp_path)
    assert (back.references, back.step, back.adaptation_episodes, back.adaptation_updates) == (refs, 9, 3, 2)
    write_adaptation(back, tmp_path / "again")  # the loaded result's references are written again
    assert load_adaptation(tmp_path / "again").references == refs

    # A file written before these entries existed: everything else loads, the new fields are None.
    for key in ("references", "step", "adaptation_episodes", "adaptation_updates"):
        del meta[key]
    (folder / "adaptation.json").write_text(json.dumps(meta))
    old = load_adaptation(tmp_path)
    assert (old.references, old.step, old.adaptation_episodes, old.adaptation_updates) == (None, None, None, None)
    np.testing.assert_array_equal(old.returns, result.returns)

    agent.adaptation_episodes = 0
    with pytest.raises(ValueError, match="adaptation_episodes must be None or an integer >= 1, got 0"):
        evaluate_adaptation(agent, "metarl/BernoulliBandit-v0", episodes=1)


# ----- results for the file tests ----------------------------------------------------------------
def fake_result(agent, seed, returns, env="metarl/PointRobot-v0"):
    returns = np.asarray(returns, dtype=float)
    tasks = [{"goal": np.zeros(2, np.float32)}] * len(returns)
    return AdaptationResult(env, "test", agent, tasks, returns, np.ones(returns.shape, np.int64), seed)


# ----- the random baseline ----------------------------------------------------------------------
def test_random_agent_actions_are_in_range_and_seeded():
    obs = torch.zeros(500, 2)
    box = spaces.Box(np.array([-1.0, 0.0], np.float32), np.array([1.0, 3.0], np.float32))
    agent = RandomAgent(box, seed=2)
    assert isinstance(agent, Agent) and agent.begin_task(500) is None
    actions, state = agent.act(obs, None, True)
    assert state is None and actions.shape == (500, 2) and actions.dtype == torch.float32
    assert all(box.contains(a) for a in actions.numpy())
    assert torch.equal(RandomAgent(box, seed=2).act(obs, None, True)[0], actions)
    assert not torch.equal(agent.act(obs, None, True)[0], actions)  # the stream advances

    discrete, _ = RandomAgent(spaces.Discrete(4, start=1)).act(obs, None, False)
    assert discrete.shape == (500,) and discrete.dtype == torch.int64 and set(discrete.tolist()) == {1, 2, 3, 4}
    multi, _ = RandomAgent(spaces.MultiDiscrete([2, 3])).act(obs, None, False)
    assert multi.shape == (500, 2) and set(multi[:, 0].tolist()) == {0, 1} and set(multi[:, 1].tolist()) == {0, 1, 2}

    with pytest.raises(ValueError, match="bounded Box"):
        RandomAgent(spaces.Box(-np.inf, np.inf, (2,)))
    with pytest.raises(TypeError, match="allowed: bounded Box, Discrete, MultiDiscrete"):
        RandomAgent(spaces.Dict({"a": spaces.Discrete(2)}))
