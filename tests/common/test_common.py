"""The shared on-policy pieces: advantages, PPO objective, action heads, trial inputs."""

import numpy as np
import pytest
import torch
from gymnasium import spaces

from metarl.common.advantages import discounted_returns, gae, normalize
from metarl.common.baselines import fit_linear_baseline, linear_baseline_features
from metarl.common.checks import FieldError
from metarl.common.distributions import ActionHead
from metarl.common.normalization import RewardNormalizer, RunningMeanStd
from metarl.common.ppo import PPOConfig, minibatch_indices, ppo_losses
from metarl.common.trials import trial_input, trial_input_dim
from metarl.common.trpo import TRPOConfig, conjugate_gradient, trpo_step


def reference_gae(r, v, d, last, gamma, lam):
    T, N = r.shape
    adv = np.zeros_like(r)
    for n in range(N):
        running = 0.0
        for t in reversed(range(T)):
            nv = last[n] if t == T - 1 else v[t + 1, n]
            nonterminal = 1.0 - d[t, n]
            delta = r[t, n] + gamma * nv * nonterminal - v[t, n]
            running = delta + gamma * lam * nonterminal * running
            adv[t, n] = running
    return adv


def test_gae_matches_a_per_env_loop_and_cuts_at_dones():
    g = torch.Generator().manual_seed(0)
    r, v = torch.randn(7, 3, generator=g), torch.randn(7, 3, generator=g)
    d = torch.zeros(7, 3)
    d[2, 0] = d[5, 1] = 1
    last = torch.randn(3, generator=g)
    adv, ret = gae(r, v, d, last, 0.9, 0.8)
    np.testing.assert_allclose(adv.numpy(), reference_gae(r.numpy(), v.numpy(), d.numpy(), last.numpy(), 0.9, 0.8), rtol=1e-5)
    torch.testing.assert_close(ret, adv + v)
    # lambda=1, zero values: advantages are the discounted reward-to-go bootstrapped by last
    adv1, _ = gae(r, torch.zeros_like(v), d, torch.zeros(3), 0.9, 1.0)
    torch.testing.assert_close(adv1, discounted_returns(r, d, 0.9))


def test_ppo_losses_clip_the_ratio_and_respect_the_mask():
    cfg = PPOConfig(clip=0.2)
    adv = torch.tensor([1.0, 1.0, -1.0, 5.0])
    old = torch.zeros(4)
    new = torch.log(torch.tensor([1.5, 1.0, 0.5, 1.0]))
    values = torch.zeros(4)
    mask = torch.tensor([True, True, True, False])
    losses = ppo_losses(cfg, new, old, adv, torch.ones(4), values, values, torch.ones(4), mask)
    # ratios 1.5 -> clipped to 1.2 for a positive advantage; 0.5 -> 0.8 bound for a negative one
    expected = -(1.2 * 1 + 1.0 * 1 + 0.8 * -1) / 3
    assert losses.policy.item() == pytest.approx(expected)
    assert losses.value.item() == pytest.approx(0.5)
    assert losses.clip_fraction.item() == pytest.approx(2 / 3)


def test_action_heads_cover_discrete_and_box_spaces():
    head = ActionHead(4, spaces.Discrete(3, start=1))
    dist = head(torch.zeros(5, 4))
    a = dist.sample()
    assert a.shape == (5,) and set(head.to_env_action(a).tolist()) <= {1, 2, 3}
    box = ActionHead(4, spaces.Box(-1.0, 1.0, (2,)))
    dist = box(torch.zeros(5, 4))
    assert dist.log_prob(torch.zeros(5, 2)).shape == (5,)
    assert box.to_env_action(torch.full((5, 2), 3.0)).max().item() == 1.0
    with pytest.raises(ValueError, match="Discrete or a bounded"):
        ActionHead(4, spaces.Box(-np.inf, np.inf, (2,)))


def test_trial_input_one_hot_encodes_discrete_actions():
    space = spaces.Discrete(3)
    x = trial_input(torch.zeros(2, 1), torch.tensor([2, 0]), torch.tensor([1.0, 0.0]), torch.tensor([True, False]), space)
    assert x.shape == (2, trial_input_dim(spaces.Box(0, 1, (1,)), space))
    assert x[0].tolist() == [0.0, 0.0, 0.0, 1.0, 1.0, 1.0]


def test_minibatches_partition_and_normalize_with_mask():
    parts = minibatch_indices(10, 3, torch.Generator().manual_seed(0))
    assert sorted(torch.cat(parts).tolist()) == list(range(10)) and len(parts) == 3
    x = torch.tensor([1.0, 3.0, 100.0])
    y = normalize(x, torch.tensor([True, True, False]))
    assert y[:2].tolist() == pytest.approx([-1.0, 1.0], abs=1e-6)


def test_ppo_config_rejects_impossible_values():
    with pytest.raises(FieldError, match="gae_lambda"):
        PPOConfig(gae_lambda=1.5)


def test_action_head_samples_from_a_generator_with_the_distributions_law():
    head = ActionHead(4, spaces.Discrete(3))
    with torch.no_grad():
        head.linear.bias.copy_(torch.log(torch.tensor([0.2, 0.5, 0.3])))
    dist = head(torch.zeros(20000, 4))
    a = head.sample(dist, torch.Generator().manual_seed(0))
    assert torch.equal(a, head.sample(dist, torch.Generator().manual_seed(0)))  # reproducible
    freq = torch.bincount(a, minlength=3).float() / len(a)
    torch.testing.assert_close(freq, torch.tensor([0.2, 0.5, 0.3]), atol=0.015, rtol=0)
    box = ActionHead(4, spaces.Box(-1.0, 1.0, (2,)), init_log_std=np.log(0.5))
    x = box.sample(box(torch.zeros(20000, 4)), torch.Generator().manual_seed(1))
    assert x.shape == (20000, 2) and abs(x.mean().item()) < 0.02 and abs(x.std().item() - 0.5) < 0.02


def test_running_mean_std_matches_the_moments_of_all_batches():
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(n, 2, generator=g) * 3 + 1 for n in (5, 50, 7)]
    rms = RunningMeanStd((2,), epsilon=1e-12)
    for b in batches:
        rms.update(b)
    every = torch.cat(batches).double()
    torch.testing.assert_close(rms.mean, every.mean(0))
    torch.testing.assert_close(rms.var, every.var(0, unbiased=False))
    copy = RunningMeanStd((2,))
    copy.load_state_dict(rms.state_dict())
    torch.testing.assert_close(copy.std(), rms.std())


def test_gae_timeouts_zero_the_step_and_restart_the_trace():
    g = torch.Generator().manual_seed(3)
    r, v = torch.randn(6, 2, generator=g), torch.randn(6, 2, generator=g)
    d, timeouts = torch.zeros(6, 2), torch.zeros(6, 2)
    timeouts[2, 0] = 1
    last = torch.randn(2, generator=g)
    adv, ret = gae(r, v, d, last, 0.9, 0.8, timeouts=timeouts)
    plain, _ = gae(r, v, d, last, 0.9, 0.8)
    assert adv[2, 0] == 0 and ret[2, 0] == v[2, 0]  # the timed-out step's target is its own value
    torch.testing.assert_close(adv[3:], plain[3:])  # steps after the timeout are unaffected
    torch.testing.assert_close(adv[:, 1], plain[:, 1])
    # the step before restarts from its one-step error, still bootstrapped by the value after it
    torch.testing.assert_close(adv[1, 0], r[1, 0] + 0.9 * v[2, 0] - v[1, 0])


def test_huber_value_loss_is_smooth_l1_of_the_larger_clipped_error():
    cfg = PPOConfig(value_loss="huber", value_clip=0.1)
    value, old, returns = torch.tensor([0.0, 3.0]), torch.tensor([0.05, 0.0]), torch.tensor([0.5, 0.0])
    zeros = torch.zeros(2)
    losses = ppo_losses(cfg, zeros, zeros, zeros, zeros, value, old, returns)
    # entry 0: |0 - 0.5| -> 0.125 and clipped 0.0 -> 0.125; entry 1: |3| -> 2.5, clipped 0.1 -> 0.005
    torch.testing.assert_close(losses.value, torch.tensor(0.5 * (0.125 + 2.5) / 2))
    with pytest.raises(FieldError, match="value_loss"):
        PPOConfig(value_loss="l1")


def test_normalize_over_dims_normalizes_each_task_on_its_own():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(5, 3, 4, generator=g) * torch.tensor([1.0, 10.0, 100.0])[:, None] + 7
    mask = torch.rand(5, 3, 4, generator=g) > 0.3
    y = normalize(x, mask, dim=(0, 2))
    for task in range(3):
        valid = y[:, task][mask[:, task]]
        assert valid.mean().abs() < 1e-5 and (valid.var(unbiased=False) - 1).abs() < 1e-4


def test_action_head_distribution_takes_per_task_log_stds():
    head = ActionHead(3, spaces.Box(-1.0, 1.0, (2,)), init_log_std=-0.5)
    features = torch.randn(4, 6, 3)
    torch.testing.assert_close(head.distribution(head.linear(features)).log_prob(torch.zeros(4, 6, 2)),
                               head(features).log_prob(torch.zeros(4, 6, 2)))  # fmt: skip
    per_task = torch.log(torch.arange(1.0, 5.0))[:, None, None].expand(4, 1, 2)
    dist = head.distribution(head.linear(features), per_task)
    torch.testing.assert_close(dist.base_dist.scale[:, 0, 0], torch.arange(1.0, 5.0))


def test_linear_baseline_recovers_each_groups_own_fit_and_ignores_masked_entries():
    g = torch.Generator().manual_seed(0)
    obs, time = torch.randn(3, 50, 2, generator=g), torch.arange(50.0).repeat(3, 1)
    features = linear_baseline_features(obs, time)
    assert features.shape == (3, 50, 2 * 2 + 4) and features.dtype == torch.float64
    weights = torch.randn(3, 8, 1, generator=g, dtype=torch.float64)
    targets = (features @ weights).squeeze(-1)
    mask = torch.ones(3, 50, dtype=torch.bool)
    mask[:, 40:] = False
    corrupted = torch.where(mask, targets, torch.full_like(targets, 1e3))  # masked entries must not matter
    fitted = fit_linear_baseline(features, corrupted, mask, reg_coeff=1e-10)
    torch.testing.assert_close(fitted, targets, atol=1e-5, rtol=1e-5)


def test_conjugate_gradient_solves_a_positive_definite_system():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(6, 6, generator=g, dtype=torch.float64)
    spd = a @ a.T + 6 * torch.eye(6, dtype=torch.float64)
    b = torch.randn(6, generator=g, dtype=torch.float64)
    x = conjugate_gradient(lambda v: spd @ v, b, iters=20)
    torch.testing.assert_close(spd @ x, b)


def test_trpo_step_improves_the_surrogate_within_the_trust_region():
    from torch.distributions import Normal, kl_divergence

    g = torch.Generator().manual_seed(0)
    mean = torch.nn.Parameter(torch.zeros(2))
    old = Normal(torch.zeros(2), torch.ones(2))
    actions = torch.randn(500, 2, generator=g)
    advantages = actions.sum(-1)  # rewards moving the mean up in both dimensions
    old_log_prob = old.log_prob(actions).sum(-1)

    def objective(differentiable):
        new = Normal(mean, torch.ones(2))
        ratio = torch.exp(new.log_prob(actions).sum(-1) - old_log_prob)
        return -(ratio * advantages).mean(), kl_divergence(old, new).sum()

    cfg = TRPOConfig(max_kl=0.01)
    metrics = trpo_step([mean], objective, cfg)
    loss, kl = objective(False)
    assert metrics["losses/loss_after"] < metrics["losses/loss_before"] and loss.item() == metrics["losses/loss_after"]
    assert 0.5 * cfg.max_kl < kl.item() < cfg.max_kl and (mean > 0).all()
    with pytest.raises(FieldError, match="ls_backtrack_ratio"):
        TRPOConfig(ls_backtrack_ratio=1.0)


def test_the_reward_normalizer_restarts_its_return_where_told():
    rewards = torch.tensor([[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]])
    end = torch.tensor([[False, False], [True, False], [False, False]])
    by_episode = RewardNormalizer(2, 0.5, None, "episode", "cpu")
    by_trial = RewardNormalizer(2, 0.5, None, "trial", "cpu")
    seen_episode, seen_trial = [], []
    for r, e in zip(rewards, end):
        by_episode.step(r, e)
        seen_episode.append(by_episode.discounted.clone())
        by_trial.step(r, e)
        seen_trial.append(by_trial.discounted.clone())
    # "episode": the statistics see the ending step's return (1.5), the next step starts from 0
    assert by_episode.rms.count == pytest.approx(6, abs=1e-3) and seen_episode[1][0] == 0 and seen_episode[2][0] == 1.0
    # "trial": the ending step's return is reset before the statistics see it
    expected = torch.tensor([1.0, 2.0, 0.0, 3.0, 1.0, 3.5], dtype=torch.float64)
    close = dict(rtol=1e-3, atol=0)  # the statistics start from a prior count of 1e-4
    torch.testing.assert_close(by_trial.rms.mean, expected.mean(), **close)
    torch.testing.assert_close(by_episode.rms.mean, torch.tensor([1.0, 2.0, 1.5, 3.0, 1.0, 3.5]).double().mean(), **close)


def test_the_reward_normalizer_scales_a_batch_by_the_std_of_its_returns_and_clips_steps():
    normalizer = RewardNormalizer(2, 1.0, None, "trial", "cpu")
    rewards = torch.tensor([[1.0, 1.0], [1.0, 3.0]])
    mask = torch.tensor([[True, True], [True, False]])
    scaled = normalizer.batch(rewards, mask)
    returns = torch.tensor([1.0, 1.0, 2.0], dtype=torch.float64)  # the masked step is left out
    torch.testing.assert_close(normalizer.rms.mean, returns.mean(), rtol=1e-3, atol=0)
    torch.testing.assert_close(scaled, rewards / returns.var(unbiased=False).sqrt().float(), rtol=1e-3, atol=0)
    clipped = RewardNormalizer(1, 0.9, 2.0, "episode", "cpu")
    assert clipped.step(torch.tensor([100.0]), torch.tensor([False])).abs().item() <= 2.0
    with pytest.raises(ValueError, match="reset='never' is not allowed"):
        RewardNormalizer(1, 0.9, None, "never", "cpu")
