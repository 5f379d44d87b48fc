"""RL^2: the adaptation interface matches training, hidden-state bookkeeping, resume, config
errors, and the acceptance test against Thompson sampling on Bernoulli bandits."""

from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from metarl.agents.rl2 import RL2Config, RL2Learner, chunk_sequences

from metarl.common.checks import ConfigError
from metarl.common.config import load_config
from metarl.common.ppo import PPOConfig
from metarl.common.protocol import Transition
from metarl.report.adaptation import load_adaptation
from metarl.runner.evaluation import evaluate_adaptation
from metarl.runner.runs import make_run_dir
from metarl.runner.train import train

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "configs" / "rl2" / "demo.yaml"
TINY = ["rl2.num_envs=8", "rl2.hidden_size=16", "rl2.ppo.epochs=2", "rl2.ppo.num_minibatches=2", "train.log_every=50"]


def small_learner(env_id: str, num_envs: int = 6, seed: int = 0, **cfg_fields) -> RL2Learner:
    cfg = RL2Config(num_envs=num_envs, hidden_size=16, **cfg_fields)
    env = gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", device="cpu")
    torch.manual_seed(seed)
    return RL2Learner(cfg, env, torch.device("cpu"), seed)


def record_steps(env):
    """Wrap ``env.step`` to record what the training collection gave and got back."""
    steps, step = [], env.step

    def recording(action):
        out = step(action)
        steps.append((action.clone(), *out))
        return out

    env.step = recording
    return steps


@pytest.mark.parametrize("env_id", ["metarl/GridNavigation-v0", "metarl/PointRobot-v0"])
def test_the_adaptation_interface_sees_exactly_the_training_inputs(env_id):
    """Replay a training trial through begin_task/act/observe/end_episode: same GRU inputs and
    hidden states at every step, and the update's sequence pass gives the collection's log-probs."""
    learner = small_learner(env_id, bptt_length=1)  # bptt_length=1 keeps the hidden state of every step
    first_obs = []
    reset = learner.env.reset
    learner.env.reset = lambda **kw: first_obs.append(reset(**kw)[0]) or (first_obs[-1], {})
    steps = record_steps(learner.env)
    rollout = learner.collect()
    agent, T = learner.agent, learner.trial_length
    assert len(steps) == T == learner.trial_episodes * learner.env.max_episode_steps and bool(rollout.mask.all())

    state, obs = agent.begin_task(learner.env.num_envs), first_obs[0]
    for t, (action, next_obs, reward, terminated, truncated, info) in enumerate(steps):
        assert torch.equal(agent.inputs(obs, state), rollout.inputs[t]), f"input differs at step {t}"
        assert torch.equal(state.hidden, rollout.hidden[t]), f"hidden state differs at step {t}"
        greedy, state = agent.act(obs, state, deterministic=True)
        assert greedy.shape == action.shape
        done = terminated | truncated
        final = torch.where(done.view(-1, *[1] * (obs.ndim - 1)), info["final_obs"], next_obs)
        valid = torch.ones_like(done)
        state = agent.observe(state, Transition(obs, action, reward, final, terminated, truncated, valid))
        obs = next_obs
        if bool(done.all()):  # fixed-length episodes: every sub-env starts its next episode together
            state = agent.end_episode(state)

    seq_inputs = chunk_sequences(rollout.inputs, T)  # the whole trial as one sequence per sub-env
    dist, values, _ = agent.net(seq_inputs, torch.zeros_like(rollout.hidden[0]))
    torch.testing.assert_close(dist.log_prob(rollout.actions), rollout.log_probs, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(values, rollout.values, atol=1e-5, rtol=1e-5)


def test_hidden_state_persists_across_episodes_resets_at_begin_task_and_respects_valid():
    learner = small_learner("metarl/BernoulliBandit-v0", num_envs=3)
    agent = learner.agent
    state = agent.begin_task(3)
    assert not state.hidden.any() and not state.prev_done.any()
    obs, flags = torch.zeros(3, 1), torch.ones(3, dtype=torch.bool)
    with pytest.raises(RuntimeError, match="act before observe"):
        no_action = torch.zeros(3, dtype=torch.int64)
        agent.observe(state, Transition(obs, no_action, torch.zeros(3), obs, flags, ~flags, flags))
    action, state = agent.act(obs, state, deterministic=False)
    valid = torch.tensor([True, False, True])
    reward = torch.tensor([1.0, 1.0, 0.0])
    done = torch.ones(3, dtype=torch.bool)
    state = agent.observe(state, Transition(obs, action, reward, obs, done, ~done, valid))
    assert state.hidden[[0, 2]].abs().sum(1).gt(0).all(), "valid rows take the new hidden state"
    assert not state.hidden[1].any() and state.prev_reward[1] == 0 and not state.prev_done[1], "invalid row unchanged"
    assert state.prev_reward.tolist() == [1.0, 0.0, 0.0] and state.prev_done.tolist() == [True, False, True]
    assert torch.equal(state.prev_action[[0, 2]], action[[0, 2]])

    before = state.hidden.clone()
    state = agent.end_episode(state)
    assert torch.equal(state.hidden, before), "the hidden state carries over the episode boundary"
    assert state.prev_done.all(), "the next input flags the episode boundary"
    _, after = agent.act(obs, state, deterministic=True)
    assert not torch.equal(after.pending, agent.act(obs, agent.begin_task(3), True)[1].pending)
    assert not agent.begin_task(3).hidden.any(), "a new task starts from zeros"


def test_trials_with_early_episode_ends_mask_the_rest_of_the_step_budget():
    """Bandit episodes end after one pull: with a 3-step time limit a 4-pull trial ends after 4 of
    its 12 budgeted steps; the rest is masked and carries no reward."""
    cfg = RL2Config(num_envs=5, hidden_size=8, trial_episodes=4)
    env = gym.make_vec("metarl/BernoulliBandit-v0", 5, vectorization_mode="vector_entry_point", max_episode_steps=3)
    learner = RL2Learner(cfg, env, torch.device("cpu"), seed=0)
    rollout = learner.collect()
    assert rollout.mask.shape == (12, 5) and rollout.mask[:4].all() and not rollout.mask[4:].any()
    assert rollout.trial_end[3].all() and rollout.trial_end.sum() == 5 and not rollout.rewards[4:].any()
    metrics = learner.update(rollout)
    assert np.isfinite(metrics["losses/policy_loss"])


def test_truncated_bptt_chunks_start_from_the_rollout_hidden_state():
    x = torch.arange(10.0).view(5, 2)  # T=5 steps, N=2 sub-envs
    chunks = chunk_sequences(x, 2)  # 3 chunks of 2 steps, the last one zero-padded
    assert chunks.shape == (2, 6)
    assert chunks[:, 0].tolist() == [0.0, 2.0] and chunks[:, 1].tolist() == [1.0, 3.0]  # chunk 0, envs 0 and 1
    assert chunks[:, 4].tolist() == [8.0, 0.0] and chunks[:, 5].tolist() == [9.0, 0.0]  # chunk 2, padded
    learner = small_learner("metarl/GridNavigation-v0", num_envs=4, bptt_length=16)
    rollout = learner.collect()
    assert rollout.hidden.shape == (4, 4, 16)  # ceil(60 / 16) chunks
    assert np.isfinite(learner.update(rollout)["losses/value_loss"])


def test_train_set_task_source_draws_training_tasks():
    learner = small_learner("metarl/PointRobot-v0", num_envs=4, task_source="train_set")
    learner.collect()
    train_goals = {tuple(t["goal"].tolist()) for t in learner.env.task_set("train")}
    assert all(tuple(g) in train_goals for g in learner.env.get_tasks()["goal"].tolist())


def test_every_rl2_config_loads():
    configs = sorted((ROOT / "configs" / "rl2").glob("*.yaml"))
    assert {p.stem for p in configs} >= {
        "bernoulli_bandit", "tabular_mdp", "gridworld", "point_robot", "cheetah_vel", "cheetah_dir", "ant_dir", "demo"
    }  # fmt: skip
    for path in configs:
        cfg = load_config(path)
        assert cfg.agent == "rl2" and cfg.env.id.startswith("metarl/") and isinstance(cfg.agent_config.ppo, PPOConfig)


@pytest.mark.parametrize(
    "override, fragments",
    [
        ("rl2.num_envs=0", ["rl2.num_envs", "0", ">= 1"]),
        ("rl2.ppo.gae_lambda=2", ["rl2.ppo.gae_lambda", "2", "[0, 1]"]),
        ("rl2.hiden_size=8", ["rl2.hiden_size", "did you mean 'rl2.hidden_size'"]),
        ("rl2.task_source=test", ["rl2.task_source", "test", "'distribution'"]),
        ("rl2.policy_layers=[64, 0]", ["rl2.policy_layers", "[64, 0]"]),
        ("rl2.bptt_length=fast", ["rl2.bptt_length", "fast", "int"]),
    ],
)
def test_config_errors_name_the_key(override, fragments, config_error):
    message = config_error(DEMO, override)
    for fragment in fragments:
        assert fragment in message


def mean_trial_return(agent, seeds: range) -> float:
    """Mean total reward of 10-pull trials on the 30 held-out tasks, averaged over ``seeds``."""
    returns = [
        evaluate_adaptation(agent, "metarl/BernoulliBandit-v0", split="test", episodes=10, seed=s).returns.sum(1).mean()
        for s in seeds
    ]
    return float(np.mean(returns))


def test_rl2_reaches_90_percent_of_thompson_sampling_on_bernoulli_bandits(tmp_path, one_thread):
    """The acceptance test: RL^2 trained with the demo config (5 arms, 10-pull trials), evaluated
    on the held-out test tasks, earns at least 90% of Thompson sampling's mean total reward."""
    from metarl.agents.classical import ThompsonSamplingAgent

    cfg = load_config(DEMO, ["train.checkpoint_every=100000000"])
    trainer = train(cfg, make_run_dir(cfg, tmp_path / "run"))
    seeds = range(20)  # the same 30 tasks for both agents; more seeds average out the pulls' noise
    rl2 = mean_trial_return(trainer.agent, seeds)
    thompson = mean_trial_return(ThompsonSamplingAgent(5, kind="bernoulli", seed=0, device="cpu"), seeds)
    assert rl2 >= 0.9 * thompson, (rl2, thompson)
    assert load_adaptation(tmp_path / "run").returns.shape == (30, 10)


def test_rl2_with_the_papers_trpo_learns_the_bandits_within_its_trust_region(tmp_path, one_thread):
    """``slow_learner: trpo`` (the paper's outer loop): every policy step stays within ``max_kl``
    and lowers the surrogate loss, and 150k pulls already reach 90% of Thompson sampling."""
    from metarl.agents.classical import ThompsonSamplingAgent

    cfg = load_config(DEMO, ["rl2.slow_learner=trpo", "train.total_steps=150000", "train.checkpoint_every=100000000"])
    trainer = train(cfg, make_run_dir(cfg, tmp_path / "run"))
    rollout = trainer.collect()
    metrics = trainer.trpo_update(rollout)
    assert 0 < metrics["losses/kl"] <= cfg.agent_config.trpo.max_kl
    assert metrics["losses/loss_after"] < metrics["losses/loss_before"]
    seeds = range(20)
    rl2 = mean_trial_return(trainer.agent, seeds)
    thompson = mean_trial_return(ThompsonSamplingAgent(5, kind="bernoulli", seed=0, device="cpu"), seeds)
    assert rl2 >= 0.9 * thompson, (rl2, thompson)


def test_trpo_with_truncated_backpropagation_is_refused_naming_the_key():
    with pytest.raises(ConfigError, match=r"bptt_length.*5.*whole trials"):
        load_config(DEMO, ["rl2.slow_learner=trpo", "rl2.bptt_length=5"])
    with pytest.raises(ConfigError, match=r"rl2.slow_learner='a2c'.*allowed: 'ppo', 'trpo'"):
        load_config(DEMO, ["rl2.slow_learner=a2c"])
