"""A user's own family end to end: numpy ``MetaEnv`` -> generic batched face -> every kind of agent
trained, evaluated and plotted through the CLI; the generic face against N single envs; the
README's examples (numpy and native analytic) as they are written."""

import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
import yaml

from metarl import cli, registered_families, unregister_family
from metarl.core.generic_vector import GenericVectorEnv
from metarl.core.registry import VectorEntry, analytic_vector_entry, generic_vector_entry, register_family
from metarl.core.vector import AnalyticVectorEnv
from metarl.report.adaptation import load_adaptation

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"

# Two numpy-only families: a Box one that terminates near its goal and starts from a seeded random
# position, and a Discrete one that truncates episodes itself now and then.
FAMILIES = '''
import numpy as np
from gymnasium import spaces
from metarl import MetaEnv, register_family


class RingGoal2D(MetaEnv):
    task_space = spaces.Dict({"goal": spaces.Box(-1.0, 1.0, (2,), np.float32)})
    observation_space = spaces.Box(-np.inf, np.inf, (2,), np.float32)
    action_space = spaces.Box(-0.2, 0.2, (2,), np.float32)

    def __init__(self, task=None, radius=1.0):
        self.radius, self.pos = radius, np.zeros(2)
        self._init_task(task)

    def _sample_task_batch(self, rng, n, distribution):
        angle = rng.uniform(0, 2 * np.pi, n)
        return {"goal": (self.radius * np.stack([np.cos(angle), np.sin(angle)], 1)).astype(np.float32)}

    def _apply_task(self, task):
        self.goal = task["goal"].astype(np.float64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._reset_task_option(options)
        self.pos = self.np_random.uniform(-0.1, 0.1, 2)
        return self.pos.astype(np.float32), {}

    def step(self, action):
        self.pos = self.pos + np.clip(action, -0.2, 0.2)
        distance = float(np.linalg.norm(self.pos - self.goal))
        return self.pos.astype(np.float32), -distance, distance < 0.15, False, {}


class NoisyArms(MetaEnv):
    task_space = spaces.Dict({"best": spaces.Discrete(4)})
    observation_space = spaces.Box(-10.0, 10.0, (1,), np.float32)
    action_space = spaces.Discrete(4)

    def __init__(self, task=None):
        self._init_task(task)

    def _sample_task_batch(self, rng, n, distribution):
        return {"best": rng.integers(0, 4, n)}

    def _apply_task(self, task):
        self.best = int(task["best"])

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._reset_task_option(options)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        reward = float(action == self.best) + self.np_random.normal(0.0, 0.1)
        return np.array([reward], np.float32), reward, False, bool(self.np_random.random() < 0.1), {}


register_family("test/RingGoal2D-v0", RingGoal2D, max_episode_steps=10)
register_family("test/NoisyArms-v0", NoisyArms, max_episode_steps=6)
'''
IDS = ("test/RingGoal2D-v0", "test/NoisyArms-v0")


def _forget(module: str, ids: tuple[str, ...]) -> None:
    for env_id in ids:
        if env_id in registered_families():
            unregister_family(env_id)
    sys.modules.pop(module, None)


@pytest.fixture
def families(tmp_path, monkeypatch):
    """The module ``ring_envs`` written to ``tmp_path`` (the working directory), importable."""
    (tmp_path / "ring_envs.py").write_text(FAMILIES)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    _forget("ring_envs", IDS)
    yield tmp_path
    _forget("ring_envs", IDS)


def singles(env_id, tasks, **kwargs):
    """One ``gymnasium.make`` env per task (TimeLimit included, as a user would run it)."""
    envs = [gym.make(env_id, **kwargs) for _ in tasks]
    for env, task in zip(envs, tasks):
        env.unwrapped.set_task(task)
    return envs


def compare_step_for_step(vec, envs, actions, seed):
    """``vec`` against ``envs`` under ``actions`` (T, N, ...) with sub-env i seeded ``seed + i``;
    a single env that finishes is reset without a seed, as the same-step autoreset does."""
    obs_v, _ = vec.reset(seed=seed)
    obs_s = [env.reset(seed=seed + i)[0] for i, env in enumerate(envs)]
    ends = 0
    for t, action in enumerate(actions):
        np.testing.assert_array_equal(obs_v.numpy(), np.stack(obs_s), err_msg=f"step {t}")
        obs_v, r_v, term_v, trunc_v, info = vec.step(action)
        for i, env in enumerate(envs):
            o, r, term, trunc, _ = env.step(action[i])
            assert (r_v[i].item(), term_v[i].item(), trunc_v[i].item()) == (r, term, trunc), f"step {t}, sub-env {i}"
            if term or trunc:
                ends += 1
                np.testing.assert_array_equal(info["final_obs"][i].numpy(), o)
                assert info["_final_obs"][i]
                o, _ = env.reset()
            obs_s[i] = o
    return ends


def test_a_family_without_vector_entry_point_gets_the_generic_face(families):
    import ring_envs  # noqa: F401

    spec = registered_families()["test/RingGoal2D-v0"]
    assert spec.vector_entry_point == generic_vector_entry("ring_envs:RingGoal2D")
    env = gym.make_vec("test/RingGoal2D-v0", num_envs=3, vectorization_mode="vector_entry_point", device="cpu",
                       radius=0.5, check_actions=False)  # fmt: skip
    assert isinstance(env, GenericVectorEnv) and env.max_episode_steps == 10 and not env.check_actions
    assert env.call("radius") == (0.5, 0.5, 0.5)  # family kwargs reach every copy
    np.testing.assert_allclose(np.linalg.norm(env.get_tasks()["goal"].numpy(), axis=1), 0.5, rtol=1e-6)
    obs, _ = env.reset(seed=0)
    assert obs.dtype == torch.float32 and obs.shape == (3, 2)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="unknown reset option"):
        env.reset(options={"seed": 1})
    env.close()


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("workers", [0, 2])
def test_generic_face_equals_n_single_envs_step_for_step(families, env_id, workers):
    """Per-sub-env tasks, seeds s + i, terminations, the spec's time limit, the env's own
    truncations and same-step autoresets: identical to N ``gymnasium.make`` envs."""
    import ring_envs  # noqa: F401

    n = 5
    tasks = gym.make(env_id).unwrapped.sample_tasks(n, seed=3)
    vec = gym.make_vec(env_id, num_envs=n, vectorization_mode="vector_entry_point", tasks=tasks, workers=workers)
    space = vec.single_action_space
    space.seed(1)
    actions = np.stack([np.stack([space.sample() for _ in range(n)]) for _ in range(40)])
    try:
        if workers:
            # Ctrl-C reaches the workers too; they leave it to the parent (a trainer checkpoints first).
            os.kill(vec._envs.procs[0].pid, signal.SIGINT)
            # A sub-env's error in a worker is raised here, as the same exception.
            with pytest.raises(ValueError, match="outside the allowed range"):
                vec.call("set_task", {"best": 9} if env_id == IDS[1] else {"goal": [3.0, 0.0]})
            vec.set_tasks(tasks)  # the failed call left nothing half-done that matters below
        ends = compare_step_for_step(vec, singles(env_id, tasks), actions, seed=7)
        assert ends >= n, "the episodes must end (and autoreset) during the comparison"
        # New tasks for some sub-envs, then a masked reset with a seed: only those sub-envs restart.
        new = gym.make(env_id).unwrapped.sample_tasks(2, seed=9)
        mask = np.array([False, True, False, True, False])
        vec.set_tasks(new, env_mask=mask)
        for i, j in zip((1, 3), range(2)):
            assert all(np.array_equal(vec.get_tasks()[k][i].numpy(), v) for k, v in new[j].items())
        before, _ = vec.reset(seed=None)
        after, _ = vec.reset(seed=100, options={"reset_mask": mask})
        single = gym.make(env_id, task=new[0])
        np.testing.assert_array_equal(after[1].numpy(), single.reset(seed=101)[0])
        np.testing.assert_array_equal(after[~torch.as_tensor(mask)].numpy(), before[~torch.as_tensor(mask)].numpy())
    finally:
        vec.close()


def test_disabled_autoreset_and_device(families):
    import ring_envs  # noqa: F401

    vec = gym.make_vec("test/NoisyArms-v0", 2, vectorization_mode="vector_entry_point", autoreset_mode="disabled",
                       max_episode_steps=3)  # fmt: skip
    vec.reset(seed=0)
    for _ in range(3):
        _, reward, _, trunc, info = vec.step(np.array([0, 1]))
    assert trunc.all() and info == {} and reward.dtype == torch.float64
    obs, _ = vec.reset(options={"reset_mask": np.array([True, False])})
    assert obs[0].item() == 0.0
    vec.close()


def test_register_family_takes_a_class_or_callable_vector_entry_point(families):
    import ring_envs

    made = []

    def face(**kwargs):
        made.append(kwargs)
        return GenericVectorEnv(ring_envs.RingGoal2D, **kwargs)

    register_family("test/RingCallable-v0", ring_envs.RingGoal2D, max_episode_steps=4, vector_entry_point=face)
    register_family("test/RingClass-v0", ring_envs.RingGoal2D, max_episode_steps=4,
                    vector_entry_point=generic_vector_entry(ring_envs.RingGoal2D, workers=0))  # fmt: skip
    try:
        env = gym.make_vec("test/RingCallable-v0", 2, vectorization_mode="vector_entry_point", device="cpu")
        assert made == [{"num_envs": 2, "device": "cpu", "max_episode_steps": 4}] and env.max_episode_steps == 4
        env = gym.make_vec("test/RingClass-v0", 2, vectorization_mode="vector_entry_point")
        assert isinstance(env, GenericVectorEnv) and env.workers == 0
        with pytest.raises(ValueError, match="'module:attr' string"):
            register_family("test/Bad-v0", ring_envs.RingGoal2D, max_episode_steps=4, vector_entry_point="nocolon")
        with pytest.raises(TypeError, match="callable"):
            register_family("test/Bad-v0", ring_envs.RingGoal2D, max_episode_steps=4, vector_entry_point=3)
        with pytest.raises(TypeError, match="AnalyticEnv subclass"):
            analytic_vector_entry(ring_envs.RingGoal2D)
        with pytest.raises(TypeError, match="needs a metarl.MetaEnv"):
            GenericVectorEnv(lambda: gym.make("CartPole-v1"), 2)
    finally:
        _forget("ring_envs", ("test/RingCallable-v0", "test/RingClass-v0"))


# ----- every kind of agent, through the CLI ----------------------------------------------------------
AGENTS = {
    "rl2": {"rl2": {"num_envs": 4, "hidden_size": 8, "ppo": {"epochs": 1, "num_minibatches": 1}},
            "train": {"total_steps": 320, "log_every": 80, "checkpoint_every": 320}},
    "pearl": {"pearl": {"hidden_size": 16, "encoder_hidden_size": 16, "meta_batch": 2, "batch_size": 16,
                        "context_batch_size": 8, "initial_steps": 20, "prior_steps": 20, "extra_posterior_steps": 20,
                        "updates_per_iteration": 2, "replay_capacity": 200, "tasks_per_iteration": 2},
              "train": {"total_steps": 200, "log_every": 100, "checkpoint_every": 200}},
    "maml": {"maml": {"hidden_sizes": [8], "meta_batch": 2, "inner_episodes": 2},
             "train": {"total_steps": 160, "log_every": 80, "checkpoint_every": 160}},
    "cavia": {"cavia": {"hidden_sizes": [8], "meta_batch": 2, "inner_episodes": 2},
              "train": {"total_steps": 160, "log_every": 80, "checkpoint_every": 160}},
    "varibad": {"varibad": {"num_envs": 4, "precollect_len": 0, "vae_buffer_size": 64, "vae_batch_num_trajs": 4,
                            "num_vae_updates": 1},
                "train": {"total_steps": 160, "log_every": 80, "checkpoint_every": 160}},
    "oracle": {"oracle": {"num_envs": 4, "num_steps": 20, "hidden_sizes": [8], "ppo": {"epochs": 1, "num_minibatches": 1}},
               "train": {"total_steps": 160, "log_every": 80, "checkpoint_every": 160}},
}  # fmt: skip


@pytest.mark.parametrize("agent", list(AGENTS))
def test_every_kind_of_agent_trains_on_a_numpy_family_and_evaluates_elsewhere(families, agent, monkeypatch):
    config = families / f"{agent}.yaml"
    data = {"agent": agent, "env": {"id": "test/RingGoal2D-v0", "kwargs": {"radius": 0.8}}, "seed": 0,
            "device": "cpu", "eval": {"episodes": 2, "split": "test"}, **AGENTS[agent]}  # fmt: skip
    config.write_text(yaml.safe_dump(data))
    run = families / "runs" / agent
    assert cli.main(["train", str(config), "--import", "ring_envs", "--run-dir", str(run)]) == 0
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert saved["imports"] == ["ring_envs"] and saved["python_path"] == [str(families.resolve())]
    assert load_adaptation(run).returns.shape == (30, 2)

    elsewhere = families / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert cli.main(["evaluate", str(run), "--episodes", "3"]) == 0
    assert cli.main(["plot", str(run), "--out", "curve.png"]) == 0 and (elsewhere / "curve.png").stat().st_size > 0
    if agent == "rl2":  # a fresh process has never seen ring_envs: the run's config.yaml brings it back
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        out = subprocess.run([sys.executable, "-m", "metarl.cli", "evaluate", str(run), "--tasks", "train"],
                             cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300, check=False)  # fmt: skip
        assert out.returncode == 0, out.stderr
        assert "rl2 on test/RingGoal2D-v0 (train tasks)" in out.stdout


# ----- the README's examples, as written ---------------------------------------------------------------
def readme_block(marker: str, lang: str) -> str:
    """The code block that follows ``<!-- example: MARKER -->`` in the README."""
    match = re.search(rf"<!-- example: {re.escape(marker)} -->\s*```{lang}\n(.*?)```", README.read_text(), re.DOTALL)
    assert match, f"README lost its example {marker}"
    return match.group(1)


@pytest.mark.parametrize("name", ["my_envs.py", "my_fast_envs.py"])
def test_example_files_are_the_readme_blocks(name):
    assert (EXAMPLES / name).read_text() == readme_block(name, "python")


@pytest.fixture
def examples(tmp_path, monkeypatch):
    """A copy of examples/ in ``tmp_path``, the working directory; the example families forgotten after."""
    folder = tmp_path / "examples"
    folder.mkdir()
    for name in ("my_envs.py", "my_fast_envs.py", "chain_walk_rl2.yaml"):
        (folder / name).write_text((EXAMPLES / name).read_text())
    monkeypatch.chdir(tmp_path)
    ids = ("mine/ChainWalk-v0", "mine/FastChainWalk-v0")
    _forget("my_envs", ids)
    _forget("my_fast_envs", ids)
    yield folder
    _forget("my_envs", ids)
    _forget("my_fast_envs", ids)


def test_the_readme_commands_train_evaluate_and_plot_the_example(examples, monkeypatch):
    """The README's command block, line by line: ``cd`` and ``metarl ...`` (run in-process)."""
    for line in readme_block("chain-walk-commands", "bash").splitlines():
        words = shlex.split(line, comments=True)
        if not words:
            continue
        if words[0] == "cd":
            monkeypatch.chdir(words[1])
            continue
        assert words[0] == "metarl", f"unexpected README command {line!r}"
        assert cli.main(words[1:]) == 0, line
    run = examples / "runs" / "chain"
    assert yaml.safe_load((run / "config.yaml").read_text())["imports"] == ["my_envs"]
    assert load_adaptation(run).returns.shape == (30, 2)
    assert (examples / "chain.png").stat().st_size > 0


def test_the_native_example_agrees_with_its_single_env_and_with_the_numpy_family(examples, monkeypatch):
    monkeypatch.syspath_prepend(str(examples))
    import my_envs  # noqa: F401
    import my_fast_envs

    tasks = gym.make("mine/FastChainWalk-v0").unwrapped.task_set("test")[:4]
    native = gym.make_vec("mine/FastChainWalk-v0", 4, vectorization_mode="vector_entry_point", tasks=tasks)
    generic = gym.make_vec("mine/ChainWalk-v0", 4, vectorization_mode="vector_entry_point", tasks=tasks)
    assert isinstance(native, AnalyticVectorEnv) and isinstance(generic, GenericVectorEnv)
    entry = registered_families()["mine/FastChainWalk-v0"].vector_entry_point
    assert entry == VectorEntry("metarl.core.vector:AnalyticVectorEnv", my_fast_envs.FastChainWalkEnv)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.12, 0.12, (60, 4, 1)).astype(np.float32)
    compare_step_for_step(native, singles("mine/FastChainWalk-v0", tasks), actions, seed=0)
    obs_n, _ = native.reset(seed=0)
    obs_g, _ = generic.reset(seed=0)
    for action in actions:  # float32 torch dynamics against float64 numpy: the same family
        obs_n, r_n, *_ = native.step(action)
        obs_g, r_g, *_ = generic.step(action)
        np.testing.assert_allclose(obs_n.numpy(), obs_g.numpy(), atol=1e-5)
        np.testing.assert_allclose(r_n.numpy(), r_g.numpy(), atol=1e-5)


def test_the_overhead_script_runs(tmp_path):
    out = subprocess.run([sys.executable, str(EXAMPLES / "generic_face_overhead.py"), "--num-envs", "4", "--steps", "10"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "| generic, in-process | 4 |" in out.stdout
