"""Run configs: YAML into typed dataclasses, overrides, strict errors, and the round trip."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from metarl.common.agent_registry import agent_config_type, register_agent
from metarl.common.checks import ConfigError, check
from metarl.common.config import EnvConfig, RunConfig, config_to_dict, from_dict, load_config, save_config


@dataclass
class NetConfig:
    hidden: tuple[int, ...] = (64, 64)
    activation: Literal["relu", "tanh"] = "relu"


@dataclass
class ToyConfig:
    """A stand-in for an agent's config, using every supported kind of annotation."""

    lr: float = 3e-4
    batch_size: int = 256
    use_target: bool = True
    name: str = "toy"
    clip: float | None = None
    betas: tuple[float, float] = (0.9, 0.999)
    milestones: list[int] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    net: NetConfig = field(default_factory=NetConfig)

    def __post_init__(self):
        check(self.lr > 0, "lr", self.lr, "> 0")
        check(self.batch_size >= 1, "batch_size", self.batch_size, "an integer >= 1")


def _no_trainer(cfg, device):
    raise AssertionError("a config-only test agent is never trained")


register_agent("toy", ToyConfig, _no_trainer)


def write(tmp_path, text: str):
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text))
    return path


BASE = """
    agent: toy
    env:
      id: metarl/PointRobot-v0
    toy:
      lr: 1e-3
      net:
        hidden: [32, 16]
"""


def load(tmp_path, overrides=(), text=BASE):
    return load_config(write(tmp_path, text), list(overrides))


def test_yaml_loads_into_nested_typed_dataclasses(tmp_path):
    cfg = load(tmp_path)
    assert isinstance(cfg, RunConfig) and isinstance(cfg.agent_config, ToyConfig)
    assert cfg.env == EnvConfig(id="metarl/PointRobot-v0", kwargs={})
    # PyYAML alone reads `1e-3` as a string; the config loader reads a float.
    assert cfg.agent_config.lr == 1e-3 and isinstance(cfg.agent_config.lr, float)
    assert cfg.agent_config.net == NetConfig(hidden=(32, 16), activation="relu")
    # Sections left out take their defaults.
    assert (cfg.seed, cfg.device, cfg.eval.split, cfg.eval.episodes) == (0, "auto", "test", 3)
    assert cfg.train.total_steps == 1_000_000


def test_agent_section_may_be_left_out_or_empty(tmp_path):
    assert load(tmp_path, text="agent: toy\nenv: {id: metarl/PointRobot-v0}\n").agent_config == ToyConfig()
    assert load(tmp_path, text="agent: toy\nenv: {id: x-v0}\ntoy:\n").agent_config == ToyConfig()
    with pytest.raises(ConfigError, match="toy=0 has the wrong type"):
        load(tmp_path, text="agent: toy\nenv: {id: x-v0}\ntoy: 0\n")


def test_ints_are_accepted_for_floats(tmp_path):
    cfg = load(tmp_path, ["toy.lr=1", "toy.clip=2"])
    assert cfg.agent_config.lr == 1.0 and isinstance(cfg.agent_config.lr, float)
    assert cfg.agent_config.clip == 2.0 and isinstance(cfg.agent_config.clip, float)


def test_overrides_set_nested_keys_and_parse_yaml_values(tmp_path):
    cfg = load(
        tmp_path,
        [
            "seed=3",
            "env.id=metarl/AntDir-v0",
            "env.kwargs.backend=warp",
            "toy.lr=5e-4",
            "toy.net.hidden=[8, 8, 8]",
            "toy.net.activation=tanh",
            "toy.milestones=[10, 20]",
            "toy.betas=[0.5, 0.9]",
            "toy.use_target=false",
            "eval.every_steps=1000",
            "train.total_steps=5000",
        ],
    )
    assert cfg.seed == 3
    assert cfg.env == EnvConfig(id="metarl/AntDir-v0", kwargs={"backend": "warp"})
    toy = cfg.agent_config
    assert (toy.lr, toy.net.hidden, toy.net.activation) == (5e-4, (8, 8, 8), "tanh")
    assert (toy.milestones, toy.betas, toy.use_target) == ([10, 20], (0.5, 0.9), False)
    assert (cfg.eval.every_steps, cfg.train.total_steps) == (1000, 5000)
    assert load(tmp_path, ["eval.every_steps=null"]).eval.every_steps is None


@pytest.mark.parametrize(
    "override, key, hint",
    [
        ("toy.lrr=1e-3", "'toy.lrr'", "did you mean 'toy.lr'?"),
        ("toy.net.hiden=[1]", "'toy.net.hiden'", "did you mean 'toy.net.hidden'?"),
        ("sede=1", "'sede'", "did you mean 'seed'?"),
        ("train.total_step=10", "'train.total_step'", "did you mean 'train.total_steps'?"),
    ],
)
def test_unknown_key_names_the_dotted_key_and_suggests(tmp_path, override, key, hint):
    with pytest.raises(ConfigError, match="unknown key") as err:
        load(tmp_path, [override])
    message = str(err.value)
    assert key in message and hint in message and "allowed:" in message


def test_unknown_key_in_file_lists_allowed_keys(tmp_path):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text=BASE + "    pearl: {lr: 1}\n")
    message = str(err.value)
    assert "unknown key 'pearl'" in message
    # The agent's section is allowed under the agent's name.
    assert "allowed: agent, device, env, eval, imports, python_path, seed, toy, train" in message


def test_a_whole_float_is_an_int_in_scientific_notation(tmp_path):
    cfg = load(tmp_path, ["train.total_steps=2e8", "seed=3.0"])
    assert (cfg.train.total_steps, cfg.seed) == (200_000_000, 3)
    assert type(cfg.train.total_steps) is int and type(cfg.seed) is int


@pytest.mark.parametrize(
    "override, expected",
    [
        ("seed=1.5", "seed=1.5 has the wrong type (float); expected int"),
        ("seed=true", "seed=True has the wrong type (bool); expected int"),
        ("toy.lr=fast", "toy.lr='fast' has the wrong type (str); expected float"),
        ("toy.use_target=1", "toy.use_target=1 has the wrong type (int); expected bool"),
        ("toy.name=3", "toy.name=3 has the wrong type (int); expected str"),
        ("toy.clip=[1]", "toy.clip=[1] has the wrong type (list); expected float | None"),
        ("toy.net.hidden=[8, x]", "toy.net.hidden[1]='x' has the wrong type (str); expected int"),
        ("toy.betas=[0.5]", "toy.betas=[0.5] has 1 items; expected 2 (tuple[float, float])"),
        ("toy.milestones=5", "toy.milestones=5 has the wrong type (int); expected list[int]"),
        ("toy.extra=[1]", "toy.extra=[1] has the wrong type (list); expected dict[str, any value]"),
        ("toy.net=3", "toy.net=3 has the wrong type (int); expected a mapping (NetConfig)"),
        ("toy.net.activation=gelu", "toy.net.activation='gelu' is not allowed; allowed: 'relu', 'tanh'"),
        ("eval.split=val", "eval.split='val' is not allowed; allowed: 'train', 'test', 'ood'"),
    ],
)
def test_wrong_type_names_key_value_and_expected_type(tmp_path, override, expected):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, [override])
    assert expected in str(err.value)


@pytest.mark.parametrize(
    "override, expected",
    [
        ("toy.lr=-1e-3", "toy.lr=-0.001 is not allowed; allowed: > 0"),
        ("toy.batch_size=0", "toy.batch_size=0 is not allowed; allowed: an integer >= 1"),
        ("seed=-1", "seed=-1 is not allowed; allowed: an integer >= 0"),
        ("device=gpu", "device='gpu' is not allowed; allowed: 'auto', 'cpu', 'cuda' or 'cuda:N'"),
        ("train.total_steps=0", "train.total_steps=0 is not allowed; allowed: an integer >= 1"),
        ("eval.episodes=0", "eval.episodes=0 is not allowed; allowed: an integer >= 1"),
        ("eval.every_steps=0", "eval.every_steps=0 is not allowed; allowed: null or an integer >= 1"),
    ],
)
def test_impossible_value_names_key_and_allowed_range(tmp_path, override, expected):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, [override])
    assert expected in str(err.value)


@pytest.mark.parametrize("device", ["auto", "cpu", "cuda", "cuda:1"])
def test_allowed_devices(tmp_path, device):
    assert load(tmp_path, [f"device={device}"]).device == device


def test_errors_are_value_errors_that_name_the_file(tmp_path):
    with pytest.raises(ValueError, match=r"config\.yaml: toy\.lr"):
        load(tmp_path, ["toy.lr=0"])


@pytest.mark.parametrize(
    "text, expected",
    [
        ("env: {id: x-v0}\n", "missing required key 'agent'; registered agents:"),
        ("agent: toy\n", "missing required key 'env'"),
        ("agent: toy\nenv: {kwargs: {}}\n", "missing required key 'env.id' (str)"),
        ("agent: toi\nenv: {id: x-v0}\n", "agent='toi' is not a registered agent (did you mean 'toy'?)"),
        ("agent: [toy]\nenv: {id: x-v0}\n", "agent=['toy'] has the wrong type (list); expected str"),
        ("- agent\n", "must hold a mapping of keys to values, got list"),
        ("agent: toy\nenv: {id: x-v0\n", "is not valid YAML"),
    ],
)
def test_malformed_files(tmp_path, text, expected):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, text=text)
    assert expected in str(err.value)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("seed", "override 'seed' is not of the form key=value"),
        ("=3", "override '=3' is not of the form key=value"),
        ("env.id.x=1", "override 'env.id.x=1': env.id is a value, not a section"),
        ("toy.lr=[1", "the value of override 'toy.lr=[1' is not valid YAML"),
    ],
)
def test_malformed_overrides(tmp_path, override, expected):
    with pytest.raises(ConfigError) as err:
        load(tmp_path, [override])
    assert expected in str(err.value)


def test_round_trip_through_yaml(tmp_path):
    cfg = load(tmp_path, ["toy.milestones=[1, 2]", "toy.clip=0.5", "env.kwargs.tag='1e-3'", "toy.extra={a: [1, 2]}"])
    out = tmp_path / "run" / "config.yaml"
    out.parent.mkdir()
    save_config(cfg, out)
    assert load_config(out) == cfg
    # A string that looks like a float stays a string.
    assert load_config(out).env.kwargs["tag"] == "1e-3"
    # The atomic write leaves no temporary file behind.
    assert [p.name for p in out.parent.iterdir()] == ["config.yaml"]


def test_config_to_dict_names_the_agent_section_after_the_agent(tmp_path):
    data = config_to_dict(load(tmp_path))
    assert "agent_config" not in data and data["toy"]["net"]["hidden"] == [32, 16]
    assert from_dict(data) == load(tmp_path)


def test_configs_built_in_code_are_validated_too():
    with pytest.raises(ValueError, match="lr=0 is not allowed"):
        ToyConfig(lr=0)
    with pytest.raises(ConfigError, match="agent_config for agent 'toy' must be a ToyConfig, got NetConfig"):
        RunConfig(agent="toy", env=EnvConfig(id="x-v0"), agent_config=NetConfig())
    cfg = RunConfig(agent="toy", env=EnvConfig(id="x-v0"), agent_config=ToyConfig())
    assert from_dict(config_to_dict(cfg)) == cfg


def test_register_agent_rejects_bad_registrations():
    with pytest.raises(TypeError, match="must be a dataclass type"):
        register_agent("nope", dict, _no_trainer)
    with pytest.raises(ValueError, match="must be made of letters, digits"):
        register_agent("my.agent", ToyConfig, _no_trainer)
    with pytest.raises(ValueError, match="clashes with the run config section 'train'"):
        register_agent("train", ToyConfig, _no_trainer)
    with pytest.raises(ValueError, match="agent 'toy' already has config ToyConfig"):
        register_agent("toy", NetConfig, _no_trainer)
    register_agent("toy", ToyConfig, _no_trainer)  # registering the same type again is harmless
    assert agent_config_type("toy") is ToyConfig
