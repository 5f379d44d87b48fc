"""Registering user families (the README example), registration errors and the CLI listing."""

import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from gymnasium import spaces

import metarl
from metarl import MetaEnv, register_family, registered_families, unregister_family
from metarl.cli import main
from metarl.core.registry import generic_vector_entry

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    """The code block that follows the ``<!-- example: my_envs.py -->`` marker in the README."""
    text = README.read_text()
    match = re.search(r"<!-- example: my_envs.py -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README lost its custom-environment example"
    return match.group(1)


@pytest.fixture
def my_envs(tmp_path, monkeypatch):
    (tmp_path / "my_envs.py").write_text(readme_example())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    import my_envs

    yield my_envs
    unregister_family("mine/ChainWalk-v0")
    sys.modules.pop("my_envs", None)


def test_readme_example_registers_a_working_family(my_envs, capsys):
    env = gym.make("mine/ChainWalk-v0", task={"goal": 0.5})
    assert env.spec.max_episode_steps == 50
    obs, _ = env.reset(seed=0)
    _, reward, *_ = env.step(np.array([0.1], np.float32))
    assert reward == pytest.approx(-0.4, abs=1e-6)
    assert registered_families()["mine/ChainWalk-v0"].entry_point == "my_envs:ChainWalkEnv"
    # No vector_entry_point given: the generic batched face over copies of the single env.
    assert registered_families()["mine/ChainWalk-v0"].vector_entry_point == generic_vector_entry("my_envs:ChainWalkEnv")
    assert len(env.unwrapped.task_set("test")) == 30
    with pytest.raises(ValueError, match=r"'goal'.*\[-1, 1\]"):
        env.reset(options={"task": {"goal": 1.5}})
    assert main(["envs"]) == 0
    assert re.search(r"mine/ChainWalk-v0\s+goal \[-1, 1\]\s+1\s+1\s+50", capsys.readouterr().out)


def test_cli_lists_a_user_module_given_with_import(tmp_path):
    (tmp_path / "my_envs.py").write_text(readme_example())
    out = subprocess.run(
        [sys.executable, "-m", "metarl.cli", "envs", "--import", "my_envs"],
        cwd=tmp_path, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "mine/ChainWalk-v0" in out and "metarl/PointRobot-v0" in out


class NoTaskSpace(gym.Env):
    observation_space = action_space = spaces.Discrete(2)

    def set_task(self, task): ...
    def get_task(self): ...
    def sample_tasks(self, n, seed=None): ...


class NoSetTask(gym.Env):
    task_space = spaces.Dict({"p": spaces.Box(0, 1, ())})

    def get_task(self): ...
    def sample_tasks(self, n, seed=None): ...


class BadTaskSpace(NoTaskSpace):
    task_space = spaces.Box(0, 1, (2,))


@pytest.mark.parametrize(
    "id, entry_point, message",
    [
        ("mine/NoTaskSpace-v0", NoTaskSpace, "declares no task_space"),
        ("mine/NoSetTask-v0", NoSetTask, r"lacks the task methods \['set_task'\]"),
        ("mine/BadTaskSpace-v0", BadTaskSpace, "task_space must be a non-empty gymnasium.spaces.Dict"),
        ("mine/NotAnEnv-v0", dict, "must be a gymnasium.Env subclass"),
        ("mine/Missing-v0", "no_such_module:Env", "cannot be loaded"),
        ("mine/NoColon-v0", "no_such_module", "'module:Class' string"),
        ("mine/Unversioned", NoSetTask, "versioned id"),
        ("metarl/PointRobot-v0", "metarl.envs.point:PointRobotEnv", "already registered"),
    ],
)
def test_malformed_registration_is_an_error_at_registration(id, entry_point, message):
    before = set(gym.registry)
    with pytest.raises((TypeError, ValueError), match=message):
        register_family(id, entry_point, max_episode_steps=10)
    assert set(gym.registry) == before


def test_duplicate_of_a_plain_gymnasium_id_is_rejected():
    with pytest.raises(ValueError, match="already registered"):
        register_family("CartPole-v1", "metarl.envs.point:PointRobotEnv", max_episode_steps=10)


def test_max_episode_steps_must_be_positive():
    with pytest.raises(ValueError, match="max_episode_steps must be a positive integer, got 0"):
        register_family("mine/Zero-v0", "metarl.envs.point:PointRobotEnv", max_episode_steps=0)


def test_metarl_envs_lists_every_family_with_dimensions():
    out = subprocess.run(
        [sys.executable, "-m", "metarl.cli", "envs"], capture_output=True, text=True, check=True
    ).stdout
    for env_id, spec in metarl.registered_families().items():
        assert (spec.group or env_id) in out  # a group of families (Meta-World's ML1) is one line
    assert "metarl/ML1-<class>-v0 (50 families)" in out
    assert re.search(r"metarl/PointRobot-v0\s+goal \[-1, 1\]\^2\s+2\s+2\s+20\s+100/30/30", out)
    with_refs = subprocess.run(
        [sys.executable, "-m", "metarl.cli", "envs", "--references"], capture_output=True, text=True, check=True
    ).stdout
    assert "PEARL point robot (oyster point_robot.py)" in with_refs and "RL^2 random tabular MDPs" in with_refs
    assert re.search(r"metarl/BernoulliBandit-v0\s+arm_probs \[0, 1\]\^5\s+1\s+discrete\(5\)\s+1\s+100/30", out)


def test_metarl_help_and_rollout(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "envs" in capsys.readouterr().out
    assert main(["rollout", "metarl/GridNavigation-v0", "--episodes", "2"]) == 0
    out = capsys.readouterr().out
    assert "episode 1: return" in out and "episode 2: return" in out
    assert main(["rollout", "metarl/GridNavigation-v0", "--split", "ood"]) == 2
    assert "no 'ood' task set" in capsys.readouterr().err


class CustomMeta(MetaEnv):
    """A MetaEnv whose task space depends on a constructor argument (declared as a property)."""

    observation_space = action_space = spaces.Box(-1, 1, (1,), np.float32)

    def __init__(self, task=None, dim=2):
        self.dim = dim
        self._init_task(task)

    @property
    def task_space(self):
        return spaces.Dict({"w": spaces.Box(-1, 1, (self.dim,), np.float32)})

    def _sample_task_batch(self, rng, n, distribution):
        return {"w": rng.uniform(-1, 1, (n, self.dim)).astype(np.float32)}

    def _apply_task(self, task):
        self.w = task["w"]


def test_property_task_space_with_kwargs():
    register_family("mine/Custom-v0", CustomMeta, max_episode_steps=5, kwargs={"dim": 3})
    try:
        env = gym.make("mine/Custom-v0").unwrapped
        assert env.get_task()["w"].shape == (3,)
        with pytest.raises(ValueError, match="has shape"):
            env.set_task({"w": [0.0, 0.0]})
    finally:
        unregister_family("mine/Custom-v0")


def test_every_built_in_family_passes_the_registration_checks():
    """Built-in families register by name (so `import metarl` stays light); their classes are held
    to the same checks as a user's registration here."""
    from gymnasium.envs.registration import load_env_creator

    from metarl.core.registry import _check_family_class

    built_in = {id: spec for id, spec in registered_families().items() if id.startswith("metarl/")}
    assert len(built_in) == 14 + 50 + 4  # and Meta-World's ML1 of each class, ML10, ML45, MT10, MT50
    for id, spec in built_in.items():
        _check_family_class(id, load_env_creator(spec.entry_point))
        entry = spec.vector_entry_point
        assert callable(load_env_creator(entry) if isinstance(entry, str) else entry), id
