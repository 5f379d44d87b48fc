"""Stable-Baselines3 baselines (agents/sb3/): configs, the adapter, checkpoints, RL^2 learning, the CLI."""

import io
import json
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from metarl.agents.sb3 import SB3Config, make_single_env
from metarl.agents.sb3.env_state import env_state, load_env_state

from metarl.cli import main
from metarl.common.config import load_config
from metarl.common.protocol import RandomAgent, TaskAware, Transition
from metarl.core.tasks import tasks_to_tensors
from metarl.core.wrappers import TaskObservationWrapper, TrialWrapper
from metarl.report.adaptation import load_adaptation
from metarl.runner.evaluation import evaluate_adaptation
from metarl.runner.runs import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from metarl.runner.train import make_trainer, seed_everything

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs" / "sb3"
BANDIT = CONFIGS / "bernoulli_bandit_recurrent_ppo_rl2.yaml"
POINT_PPO = CONFIGS / "point_robot_ppo_oracle.yaml"
CPU = torch.device("cpu")
# RL^2 on 2-armed bandits, sized to learn within ~10k steps on one CPU core.
FAST_RL2 = [
    "env.kwargs={num_arms: 2}", "sb3.n_envs=16", "sb3.policy_kwargs={lstm_hidden_size: 32, net_arch: []}",
    "sb3.hyperparameters={n_steps: 20, batch_size: 80, n_epochs: 4, learning_rate: 0.01, ent_coef: 0.0, gamma: 0.5, "
    "gae_lambda: 0.9}",
]  # fmt: skip


def test_every_sb3_config_loads_and_names_its_variant():
    names = {}
    for path in sorted(CONFIGS.glob("*.yaml")):
        cfg = load_config(path)
        assert cfg.agent == "sb3" and cfg.env.id.startswith("metarl/")
        names[path.stem] = cfg.agent_config.variant
    assert len(names) == 23
    assert names["ml1_reach_sac_multitask"] == "sb3-sac" and names["mt10_sac_multitask"] == "sb3-sac"
    assert names["cheetah_vel_ppo_multitask"] == "sb3-ppo" and names["ant_dir_sac_oracle"] == "sb3-sac-oracle"
    assert names["bernoulli_bandit_recurrent_ppo_rl2"] == "sb3-recurrent_ppo-rl2"


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("sb3.hyperparameters={n_step: 64}", ["sb3.hyperparameters.n_step", "a keyword of PPO", "n_steps"]),
        ("sb3.hyperparameters={seed: 3}", ["sb3.hyperparameters.seed", "a keyword of PPO"]),
        ("sb3.policy_kwargs={lstm_hidden_size: 8}", ["sb3.policy_kwargs.lstm_hidden_size", "ActorCriticPolicy"]),
        ("sb3.policy_kwargs={activation_fn: swish}", ["sb3.policy_kwargs.activation_fn", "'swish'", "relu"]),
        ("sb3.trial=true", ["sb3.trial", "recurrent_ppo"]),
        ("sb3.algo=dqn", ["sb3.algo", "'ppo', 'sac', 'recurrent_ppo'"]),
        ("sb3.n_envs=0", ["sb3.n_envs", ">= 1"]),
        ("sb3.trial_episodes=3", ["sb3.trial_episodes", "trial: true"]),
    ],
)
def test_config_errors_name_the_key_and_what_is_allowed(override, fragments, config_error):
    message = config_error(POINT_PPO, override)
    for fragment in fragments:
        assert fragment in message


def test_the_cli_refuses_a_bad_config_before_making_a_run_directory(train_cli_refusal):
    assert "sb3.hyperparameters.n_step" in train_cli_refusal(POINT_PPO, "sb3.hyperparameters={n_step: 64}")


# ----- the adapter builds the observations the model was trained on ---------------------------------------
def test_the_rl2_adapter_sees_the_trial_wrappers_observations():
    """Replaying a trial of the wrapper through the adapter gives the model the same inputs, the
    previous step and done flag carried across the trial's episodes."""
    cfg = load_config(CONFIGS / "bernoulli_bandit_recurrent_ppo_rl2.yaml", ["env.id=metarl/PointRobot-v0", "env.kwargs={}",
                      "sb3.n_envs=1", "sb3.trial_episodes=2", "sb3.policy_kwargs={lstm_hidden_size: 8}"])  # fmt: skip
    agent = make_trainer(cfg, CPU).agent
    env = TrialWrapper(gym.make("metarl/PointRobot-v0"), trial_episodes=2)
    trial_obs, _ = env.reset(seed=3)
    state = agent.begin_task(1)
    obs = torch.as_tensor(trial_obs[:2])[None]
    done = False
    while not done:
        np.testing.assert_allclose(agent.model_input(obs, state)[0], trial_obs, atol=1e-6)
        action, state = agent.act(obs, state, deterministic=False)
        trial_obs, reward, done, _, info = env.step(action[0].numpy())
        inner_done = "inner_episode" in info
        next_obs = torch.as_tensor(trial_obs[:2])[None]
        step = Transition(obs, action, torch.tensor([reward]), next_obs, torch.tensor([inner_done]), torch.tensor([False]),
                          torch.tensor([True]))  # fmt: skip
        state = agent.observe(state, step)
        if inner_done:
            state = agent.end_episode(state)
        obs = next_obs


def test_the_oracle_adapter_is_task_aware_and_appends_the_task():
    trainer = make_trainer(load_config(POINT_PPO), CPU)
    agent = trainer.agent
    assert isinstance(agent, TaskAware) and not isinstance(make_trainer(load_config(BANDIT), CPU).agent, TaskAware)
    env = TaskObservationWrapper(gym.make("metarl/PointRobot-v0"))
    task = env.unwrapped.task_set("test")[4]
    wrapped, _ = env.reset(seed=0, options={"task": task})
    agent.set_tasks(tasks_to_tensors([task]))
    np.testing.assert_allclose(agent.model_input(torch.as_tensor(wrapped[:2])[None], None)[0], wrapped, atol=1e-7)


def test_a_recurrent_model_outside_trials_starts_every_episode_afresh():
    """Without trials the LSTM restarts at each episode, as in training: on the deterministic point
    robot the deterministic policy repeats its return; the RL^2 adapter carries its memory on."""
    lstm = ["env.id=metarl/PointRobot-v0", "env.kwargs={}", "sb3.n_envs=1", "sb3.policy_kwargs={lstm_hidden_size: 8}"]
    episodic = make_trainer(load_config(BANDIT, [*lstm, "sb3.trial=false"]), CPU).agent
    returns = evaluate_adaptation(episodic, "metarl/PointRobot-v0", episodes=3).returns
    np.testing.assert_array_equal(returns[:, 1:], returns[:, :2])
    trial = make_trainer(load_config(BANDIT, lstm), CPU).agent
    returns = evaluate_adaptation(trial, "metarl/PointRobot-v0", episodes=3).returns
    assert not np.array_equal(returns[:, 1:], returns[:, :2])


# ----- checkpoints -----------------------------------------------------------------------------------------
TINY_MLP = "sb3.policy_kwargs={net_arch: [16, 16]}"
RESUME_CASES = {
    "ppo-normalize-oracle": (POINT_PPO, [TINY_MLP, "sb3.normalize=true", "sb3.n_envs=2",
                                         "sb3.hyperparameters={n_steps: 32, batch_size: 32, n_epochs: 2}"]),
    "sac": (CONFIGS / "point_robot_sac_multitask.yaml", [TINY_MLP, "sb3.steps_per_iteration=30",
            "sb3.hyperparameters={learning_starts: 40, batch_size: 16, buffer_size: 1000}"]),
    "recurrent_ppo-trial": (BANDIT, ["sb3.n_envs=2", "sb3.policy_kwargs={lstm_hidden_size: 8, net_arch: []}",
                                     "sb3.hyperparameters={n_steps: 15, batch_size: 10, n_epochs: 2}"]),
    "ppo-mujoco": (CONFIGS / "cheetah_vel_ppo_multitask.yaml", ["sb3.policy_kwargs={net_arch: [8]}",
                   "sb3.hyperparameters={n_steps: 70, batch_size: 35, n_epochs: 1}"]),
}  # fmt: skip


#: Monitor's wall-clock times (per episode, and in SB3's episode-info buffer), which no resume repeats.
WALL_CLOCK = {"episode_times", "t"}


def assert_same_state(a, b, where="state"):
    """Two trainer states are equal bit for bit (tensors, values and layout), wall-clock times aside."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        torch.testing.assert_close(a, b, rtol=0, atol=0, equal_nan=True, msg=f"{where} differs")
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a.keys() - WALL_CLOCK:
            assert_same_state(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_state(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def tensors_and_plain_values(value):
    """Every leaf of a checkpoint state, for checking that none is bytes or an object."""
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in tensors_and_plain_values(v)]
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in tensors_and_plain_values(v)]
    return [value]


@pytest.mark.parametrize("case", sorted(RESUME_CASES))
def test_a_checkpoint_resumes_exactly_where_training_stopped(case, tmp_path):
    """Train, checkpoint (through the checkpoint file), go on; a fresh trainer loaded from the
    checkpoint goes on the same way: same parameters, optimizer, counters, episodes and envs
    (MuJoCo mid-episode), replay buffer (SAC), LSTM state and normalizer statistics: the whole
    trainer state is equal bit for bit, and it holds tensors and plain values only (no bytes)."""
    path, overrides = RESUME_CASES[case]
    cfg = load_config(path, [*overrides, "device=cpu", "train.total_steps=100000"])
    seed_everything(cfg.seed)
    first = make_trainer(cfg, CPU)
    for _ in range(3):
        first.train_iteration()
    save_checkpoint(tmp_path, {"trainer": first.state_dict(), "rng": rng_state()}, first.env_steps, cfg)
    for _ in range(3):
        first.train_iteration()

    checkpoint = load_checkpoint(tmp_path, cfg)
    second = make_trainer(cfg, CPU)
    second.load_state_dict(checkpoint["state"]["trainer"])
    set_rng_state(checkpoint["state"]["rng"])
    assert second.env_steps == checkpoint["step"]
    for _ in range(3):
        second.train_iteration()

    assert second.env_steps == first.env_steps and second.episode_returns == first.episode_returns
    for (name, a), b in zip(first.model.policy.state_dict().items(), second.model.policy.state_dict().values()):
        assert torch.equal(a, b), f"{name} differs after resume"
    np.testing.assert_array_equal(first.model._last_obs, second.model._last_obs)
    if first.normalizer is not None:
        np.testing.assert_array_equal(first.normalizer.obs_rms.var, second.normalizer.obs_rms.var)
        np.testing.assert_array_equal(first.normalizer.returns, second.normalizer.returns)
    if case == "sac":
        assert first.model.replay_buffer.pos == second.model.replay_buffer.pos
        np.testing.assert_array_equal(first.model.replay_buffer.observations, second.model.replay_buffer.observations)
    state = first.state_dict()
    assert_same_state(state, second.state_dict())
    leaves = tensors_and_plain_values(checkpoint["state"]["trainer"])
    assert all(isinstance(x, torch.Tensor) or type(x) in (bool, int, float, str, type(None)) for x in leaves)
    expected = {"sac": {"replay"}, "recurrent_ppo-trial": {"lstm"}}.get(case, set())
    assert {"replay", "lstm"} & set(state["algorithm"]) == expected


MUJOCO_FAMILIES = ["HalfCheetahVel", "HalfCheetahDir", "AntDir", "AntGoal", "HumanoidDir", "Walker2dRandParams",
                   "HopperRandParams"]  # fmt: skip


@pytest.mark.parametrize("family", MUJOCO_FAMILIES)
def test_a_mujoco_training_env_restored_mid_episode_steps_bit_for_bit(family):
    """A training env's state (through torch.save and a weights-only load) written into a fresh
    env: the same actions give the same observations, rewards and flags, bit for bit, across a
    TimeLimit reset. The quantities MuJoCo derived at the last step are part of it (Ant's and the
    humanoid's rewards start from them)."""
    sb = SB3Config(task_info=True)
    first = make_single_env(f"metarl/{family}-v0", {}, sb)
    first.reset(seed=3)
    rng = np.random.default_rng(0)
    actions = rng.uniform(-0.4, 0.4, (220, *first.action_space.shape))
    for action in actions[:57]:
        if any(first.step(action)[2:4]):  # the humanoid falls early
            first.reset()
    buffer = io.BytesIO()
    torch.save(env_state(first), buffer)
    buffer.seek(0)
    second = make_single_env(f"metarl/{family}-v0", {}, sb)
    load_env_state(second, torch.load(buffer, weights_only=True))
    for i, action in enumerate(actions[57:]):
        a, b = first.step(action), second.step(action)
        np.testing.assert_array_equal(a[0], b[0], err_msg=f"step {i}")
        assert a[1:4] == b[1:4], f"step {i}"
        if a[2] or a[3]:
            np.testing.assert_array_equal(first.reset()[0], second.reset()[0])


def test_state_of_an_unknown_wrapper_is_an_error_when_saving():
    """A wrapper whose state metarl does not know fails when the checkpoint is written, naming it."""
    env = gym.wrappers.RecordEpisodeStatistics(make_single_env("metarl/PointRobot-v0", {}, SB3Config()))
    with pytest.raises(TypeError, match="RecordEpisodeStatistics"):
        env_state(env)


# ----- learning: RL^2 through sb3-contrib ------------------------------------------------------------------
def test_recurrent_ppo_on_trials_adapts_on_held_out_bandits():
    """RecurrentPPO on TrialWrapper trials of 2-armed Bernoulli bandits, evaluated through the
    adapter on 500 held-out bandits: the return per pull rises over the trial and beats a random
    policy on the same bandits."""
    cfg = load_config(BANDIT, [*FAST_RL2, "train.total_steps=10000"])
    seed_everything(cfg.seed)
    trainer = make_trainer(cfg, CPU)
    while trainer.env_steps < cfg.train.total_steps:
        trainer.train_iteration()
    held_out = trainer.family.sample_tasks(500, seed=7)  # not the training set's draws
    kwargs = {"num_arms": 2}
    learned = evaluate_adaptation(trainer.agent, cfg.env.id, tasks=held_out, env_kwargs=kwargs).returns
    random = evaluate_adaptation(RandomAgent(trainer.family.action_space), cfg.env.id, tasks=held_out, env_kwargs=kwargs)
    first, later = learned[:, 0].mean(), learned[:, 5:].mean()
    assert later > first + 0.05, learned.mean(0)
    assert learned[:, 1:].mean() > random.returns[:, 1:].mean() + 0.04, (learned.mean(0), random.returns.mean())


# ----- the command line ------------------------------------------------------------------------------------
def test_train_evaluate_and_plot_through_the_cli(tmp_path, capsys):
    run = tmp_path / "run"
    overrides = [TINY_MLP, "train.total_steps=256", "train.log_every=64", "sb3.hyperparameters={n_steps: 64, batch_size: 32}"]
    assert main(["train", str(POINT_PPO), *overrides, "--run-dir", str(run)]) == 0
    rows = (run / "eval" / "adaptation.csv").read_text().splitlines()
    assert rows[0] == "task_index,goal_0,goal_1,episode,return,length" and len(rows) == 1 + 30 * 3
    summary = json.loads((run / "eval" / "adaptation.json").read_text())
    assert summary["agent"] == "sb3-ppo-oracle" and summary["env"] == "metarl/PointRobot-v0"
    assert main(["evaluate", str(run), "--tasks", "ood", "--episodes", "2"]) == 0
    (ood,) = (run / "eval").glob("ood-2ep-step*")  # beside the run's own evaluation, which stays
    assert "(ood tasks)" in capsys.readouterr().out and load_adaptation(ood).returns.shape == (30, 2)
    assert load_adaptation(run).returns.shape == (30, 3)
    assert main(["plot", str(run), "--out", str(tmp_path / "curve.png")]) == 0
    assert (tmp_path / "curve.png").stat().st_size > 0


def test_the_readme_example_runs(tmp_path):
    """examples/sb3_rl2.py (the README's SB3 section) with a tiny budget."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "sb3_rl2.py"), "--steps", "320"],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "return per pull" in out.stdout


def test_an_env_state_saved_before_the_layered_layout_still_loads():
    """Checkpoints written before metarl's wrappers moved to metarl.core name them by their old
    module; they load into today's env, and a layer that really differs is still refused."""
    sb = SB3Config(task_info=True)
    first = make_single_env("metarl/PointRobot-v0", {}, sb)
    first.reset(seed=1)
    state = env_state(first)
    moved = [{**layer, "type": layer["type"].replace("metarl.core.wrappers.", "metarl.wrappers.")} for layer in state]
    assert moved != state  # the oracle's task wrapper is one of the layers
    for _ in range(3):
        first.step(first.action_space.sample())
    state = env_state(first)
    moved = [{**layer, "type": layer["type"].replace("metarl.core.wrappers.", "metarl.wrappers.")} for layer in state]
    second = make_single_env("metarl/PointRobot-v0", {}, sb)
    second.reset(seed=2)
    load_env_state(second, moved)
    action = first.action_space.sample()
    np.testing.assert_array_equal(first.step(action)[0], second.step(action)[0])
    other = [{**layer, "type": "metarl.wrappers.SomethingElse"} if i == 0 else layer for i, layer in enumerate(state)]
    with pytest.raises(ValueError, match="SomethingElse"):
        load_env_state(make_single_env("metarl/PointRobot-v0", {}, sb), other)
