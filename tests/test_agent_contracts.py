"""What every agent owes the runner, checked once for all of them: its configs load, a config
error names the key and stops the CLI before any work, and a run killed after a checkpoint
resumes into exactly the run that was never interrupted (the whole trainer state, bit for bit)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from metarl.common.agent_registry import agent_config_type, registered_agents
from metarl.common.config import load_config
from metarl.report.adaptation import load_adaptation
from metarl.runner.runs import make_run_dir
from metarl.runner.train import train

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "configs"

#: Per agent: a config, overrides that make it tiny, its total steps and checkpoint interval
#: (one checkpoint before the end), and an impossible value with what its error must name.
CASES: dict[str, tuple[str, list[str], int, int, str, list[str]]] = {
    "pearl": ("pearl/point_robot.yaml", [
        "pearl.hidden_size=32", "pearl.encoder_hidden_size=32", "pearl.meta_batch=4", "pearl.batch_size=32",
        "pearl.context_batch_size=16", "pearl.initial_steps=20", "pearl.prior_steps=40",
        "pearl.extra_posterior_steps=40", "pearl.updates_per_iteration=3", "pearl.replay_capacity=500"],
        5000, 2400, "pearl.meta_batch=0", ["pearl.meta_batch", "0"]),
    "rl2": ("rl2/demo.yaml", ["rl2.num_envs=8", "rl2.hidden_size=16", "rl2.ppo.epochs=2", "rl2.ppo.num_minibatches=2",
                              "rl2.normalize_rewards=true"], 1600, 700, "rl2.num_envs=0", ["rl2.num_envs", ">= 1"]),
    "varibad": ("varibad/gridworld.yaml", [
        "varibad.num_envs=4", "varibad.precollect_len=0", "varibad.vae_buffer_size=64",
        "varibad.vae_batch_num_trajs=4", "varibad.num_vae_updates=1"],
        1440, 700, "varibad.latent_dim=0", ["varibad.latent_dim", "0"]),
    "maml": ("maml/demo.yaml", ["maml.hidden_sizes=[8]", "maml.meta_batch=2", "maml.inner_episodes=2"],
             4000, 1600, "maml.inner_lr=0", ["maml.inner_lr", "> 0"]),
    "cavia": ("cavia/demo.yaml", ["cavia.hidden_sizes=[8]", "cavia.meta_batch=2", "cavia.inner_episodes=2"],
              4000, 1600, "cavia.context_dim=0", ["cavia.context_dim", "0"]),
    "oracle": ("oracle/navigation2d.yaml", [
        "oracle.num_envs=8", "oracle.num_steps=50", "oracle.hidden_sizes=[16, 16]", "oracle.ppo.epochs=2",
        "oracle.ppo.num_minibatches=2"], 2000, 800, "oracle.num_steps=0", ["oracle.num_steps", "0"]),
    "sb3": ("sb3/point_robot_sac_multitask.yaml", [
        "sb3.policy_kwargs={net_arch: [16, 16]}", "sb3.steps_per_iteration=30",
        "sb3.hyperparameters={learning_starts: 40, batch_size: 16, buffer_size: 1000}"],
        300, 120, "sb3.algo=dqn", ["sb3.algo", "dqn"]),
}  # fmt: skip
COMMON = ["device=cpu", "train.log_every=100", "eval.episodes=2"]


def test_every_learning_agent_has_a_case_and_every_config_names_a_registered_agent():
    classical = {"thompson", "ucb1", "greedy", "gittins", "bayes_optimal", "psrl", "beb", "random"}
    built_in = {a for a in registered_agents() if agent_config_type(a).__module__.startswith("metarl.agents.")}
    assert built_in == set(CASES) | classical  # classical agents have no training state to resume
    configs = sorted(CONFIGS.rglob("*.yaml"))
    assert len(configs) > 60
    for path in configs:
        cfg = load_config(path)
        assert cfg.agent in registered_agents(), path


@pytest.mark.parametrize("agent", sorted(CASES))
def test_config_errors_name_the_key_the_value_and_what_is_allowed(agent, config_error):
    config, _, _, _, impossible, fragments = CASES[agent]
    message = config_error(CONFIGS / config, impossible)
    assert all(fragment in message for fragment in fragments), message
    typo = config_error(CONFIGS / config, f"{agent}.seeed=1")
    assert f"unknown key '{agent}.seeed'" in typo and "allowed:" in typo


@pytest.mark.parametrize("agent", sorted(CASES))
def test_a_bad_config_stops_the_cli_before_any_work(agent, train_cli_refusal):
    config, *_, impossible, fragments = CASES[agent]
    assert fragments[0] in train_cli_refusal(CONFIGS / config, impossible)


def assert_same_state(a: Any, b: Any, where: str = "state") -> None:
    """Equal trainer states: tensors bit for bit, the same keys, the same plain values."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), f"{where}: keys {sorted(a)} != {sorted(b)}"
        for k in a:
            assert_same_state(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{where}: length {len(a)} != {len(b)}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b or (a != a and b != b), f"{where}: {a!r} != {b!r}"  # NaN equals NaN here


#: Wall-clock stamps in SB3's state (its ``Monitor`` times each episode): not training state.
WALL_CLOCK = {"t", "t_start", "episode_times"}


def without_wall_clock(state: Any) -> Any:
    """``state`` without the ``WALL_CLOCK`` entries, at any depth."""
    if isinstance(state, dict):
        return {k: without_wall_clock(v) for k, v in state.items() if k not in WALL_CLOCK}
    if isinstance(state, list):
        return [without_wall_clock(v) for v in state]
    return state


@pytest.mark.parametrize("agent", sorted(CASES))
def test_a_run_killed_after_a_checkpoint_resumes_into_the_uninterrupted_run(agent, tmp_path, crash_after_first_checkpoint,
                                                                          one_thread):  # fmt: skip
    config, tiny, total, every, *_ = CASES[agent]
    cfg = load_config(CONFIGS / config, [*tiny, *COMMON, f"train.total_steps={total}", f"train.checkpoint_every={every}"])
    full = train(cfg, make_run_dir(cfg, tmp_path / "full"))
    run = make_run_dir(cfg, tmp_path / "crashed")
    assert every <= crash_after_first_checkpoint(cfg, run) < total
    resumed = train(cfg, run, resume=True)
    assert resumed.env_steps == full.env_steps
    assert_same_state(without_wall_clock(resumed.state_dict()), without_wall_clock(full.state_dict()))
    np.testing.assert_array_equal(load_adaptation(run).returns, load_adaptation(tmp_path / "full").returns)
