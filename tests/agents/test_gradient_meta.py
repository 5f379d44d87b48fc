"""metarl.agents.gradient: batched inner steps and meta-gradients against per-task references."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from metarl.agents.gradient import (
    ContextAdaptation,
    GradientMetaAgent,
    GradientMetaConfig,
    InnerRollout,
    MAMLAdaptation,
    MetaPolicy,
    TransitionEncoder,
)
from metarl.agents.gradient.inner import inner_update
from metarl.agents.gradient.learner import collect
from metarl.agents.gradient.outer import meta_objective, surrogate_loss
from metarl.agents.gradient.rollout import compute_advantages
from torch.func import functional_call

from metarl.runner.evaluation import run_adaptation

T, N, R = 6, 3, 2  # steps, tasks, episodes per task
BOX = spaces.Box(-1.0, 1.0, (2,), np.float32)
BOX_NAV = spaces.Box(-0.1, 0.1, (2,), np.float32)  # Navigation2D's actions
FIELDS = ("obs", "actions", "env_actions", "rewards", "next_obs", "dones", "mask", "time")


def tiny_policy(context_dim=0, context_mode="concat"):
    torch.manual_seed(0)
    return MetaPolicy(3, BOX, (5,), "tanh", -0.3, context_dim, context_mode).double()


def adaptation(kind):
    if kind == "maml":
        return MAMLAdaptation(tiny_policy(), 0.5, meta_sgd=False)
    if kind == "meta_sgd":
        ad = MAMLAdaptation(tiny_policy(), 0.5, meta_sgd=True)
        with torch.no_grad():  # distinct rates per weight, so that a mix-up would show
            for lr in ad.inner_lrs:
                lr.uniform_(0.1, 1.0)
        return ad
    if kind == "cavia":
        return ContextAdaptation(tiny_policy(context_dim=2), 10.0, None)
    if kind == "cavia_film":
        return ContextAdaptation(tiny_policy(context_dim=2, context_mode="film"), 10.0, None)
    encoder = TransitionEncoder(3, BOX, 4, 2).double()
    with torch.no_grad():
        encoder.out.weight.normal_(0, 0.5)  # a non-trivial proposal
    return ContextAdaptation(tiny_policy(context_dim=2), 10.0, encoder)


def synthetic_rollout(ad, seed):
    """Random episodes with the sampling policy's own log-probabilities (as collected)."""
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(T, N, R, 3, generator=g, dtype=torch.float64)
    actions = torch.randn(T, N, R, 2, generator=g, dtype=torch.float64)
    mask = torch.ones(T, N, R, dtype=torch.bool)
    mask[4:, 1, 0] = False  # an episode that ended early
    dones = torch.zeros(T, N, R, dtype=torch.bool)
    dones[3, 1, 0] = dones[-1] = True
    rollout = InnerRollout(obs, actions, actions, torch.randn(T, N, R, generator=g, dtype=torch.float64),
                      torch.randn(T, N, R, 3, generator=g, dtype=torch.float64), dones, mask,
                      torch.arange(T)[:, None, None].expand(T, N, R), None, None, None)  # fmt: skip
    with torch.no_grad():
        fast = ad.initial(N)
        params, context = ad.policy_inputs(fast)
        lp, out = [], []
        for i in range(N):  # per task, independently of the batched code under test
            o = functional_call(ad.policy, {k: v[i] for k, v in params.items()},
                                (obs[:, i].reshape(-1, 3),) + (() if context is None else (context[i],)))  # fmt: skip
            dist = ad.policy.head.distribution(o, params["head.log_std"][i])
            lp.append(dist.log_prob(actions[:, i].reshape(-1, 2)).view(T, R))
            out.append(o.view(T, R, 2))
    rollout.old_log_prob, rollout.old_out = torch.stack(lp, 1), torch.stack(out, 1)
    rollout.old_log_std = params["head.log_std"].clone()
    rollout.advantages = torch.randn(T, N, R, generator=g, dtype=torch.float64)
    return rollout


def task_dist(ad, params, context, rollout, i):
    extra = () if context is None else (context,)
    out = functional_call(ad.policy, params, (rollout.obs[:, i].reshape(-1, 3), *extra))
    return ad.policy.head.distribution(out, params["head.log_std"])


def masked_mean(x, rollout, i):
    m = rollout.mask[:, i].reshape(-1).double()
    return (x * m).sum() / m.sum()


def reference_inner_step(ad, pre, i, kind="reinforce", create_graph=True):
    """Task ``i``'s adapted parameters and context, with plain autograd on that task alone."""
    theta = dict(ad.policy.named_parameters())
    context = None
    if isinstance(ad, ContextAdaptation):
        context = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        if ad.encoder is not None:
            one = InnerRollout(*(getattr(pre, f)[:, i : i + 1] for f in FIELDS), None, None, None)
            context = ad.encoder(one)[0]
    log_prob = task_dist(ad, theta, context, pre, i).log_prob(pre.actions[:, i].reshape(-1, 2))
    weight = log_prob if kind == "reinforce" else torch.exp(log_prob - pre.old_log_prob[:, i].reshape(-1))
    inner = -masked_mean(weight * pre.advantages[:, i].reshape(-1), pre, i)
    if isinstance(ad, ContextAdaptation):
        (g,) = torch.autograd.grad(inner, [context], create_graph=create_graph)
        return theta, context - ad.inner_lr * g
    grads = torch.autograd.grad(inner, list(theta.values()), create_graph=create_graph)
    rates = ad.learning_rates()
    return {k: v - rates[k] * g for (k, v), g in zip(theta.items(), grads)}, None


def reference_meta_loss(ad, pre, post, kind="reinforce", create_graph=True):
    """The MAML-TRPO surrogate after one inner step, task by task with plain autograd."""
    losses = []
    for i in range(N):
        params, context = reference_inner_step(ad, pre, i, kind, create_graph)
        new_lp = task_dist(ad, params, context, post, i).log_prob(post.actions[:, i].reshape(-1, 2))
        ratio = torch.exp(new_lp - post.old_log_prob[:, i].reshape(-1))
        losses.append(-masked_mean(ratio * post.advantages[:, i].reshape(-1), post, i))
    return torch.stack(losses).mean()


def meta_loss(ad, pre, post, kind="reinforce", create_graph=True):
    return surrogate_loss(meta_objective(ad, [pre, post], kind, create_graph), post)


@pytest.mark.parametrize("kind", ["maml", "meta_sgd", "cavia", "cavia_film", "cavia_encoder"])
def test_batched_inner_step_equals_a_per_task_loop(kind):
    ad = adaptation(kind)
    pre = synthetic_rollout(ad, 1)
    batched = inner_update(ad, ad.initial(N), pre, "reinforce", create_graph=False, first=True)
    for i in range(N):
        params, context = reference_inner_step(ad, pre, i, create_graph=False)
        expected = {"context": context} if kind.startswith("cavia") else params
        for name, value in expected.items():
            torch.testing.assert_close(batched[name][i], value, rtol=1e-10, atol=1e-12)
    if kind.startswith("cavia"):
        assert set(batched) == {"context"} and not torch.equal(batched["context"], torch.zeros(N, 2, dtype=torch.float64))
    else:
        assert set(batched) == {name for name, _ in ad.policy.named_parameters()}


@pytest.mark.parametrize("kind", ["maml", "meta_sgd", "cavia", "cavia_encoder"])
def test_second_order_meta_gradient_matches_per_task_autograd_and_finite_differences(kind):
    ad = adaptation(kind)
    pre, post = synthetic_rollout(ad, 1), synthetic_rollout(ad, 2)
    inner_kind = "lvc" if kind == "cavia_encoder" else "reinforce"
    params = list(ad.parameters())
    grads = torch.autograd.grad(meta_loss(ad, pre, post, inner_kind), params)
    reference = torch.autograd.grad(reference_meta_loss(ad, pre, post, inner_kind), params)
    for g, r in zip(grads, reference):
        torch.testing.assert_close(g, r, rtol=1e-9, atol=1e-12)
    first_order = torch.autograd.grad(meta_loss(ad, pre, post, inner_kind, create_graph=False), params)
    flat = lambda gs: torch.cat([g.reshape(-1) for g in gs])  # noqa: E731
    assert (flat(grads) - flat(first_order)).norm() > 1e-3 * flat(grads).norm()
    # central finite differences of the loss value along a random direction
    direction = torch.randn(flat(grads).shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    theta = torch.nn.utils.parameters_to_vector(params).detach().clone()
    values = []
    for sign in (1.0, -1.0):
        torch.nn.utils.vector_to_parameters(theta + sign * 1e-6 * direction, params)
        values.append(meta_loss(ad, pre, post, inner_kind, create_graph=False).item())
    torch.nn.utils.vector_to_parameters(theta, params)
    numeric = (values[0] - values[1]) / 2e-6
    assert numeric == pytest.approx(flat(grads).dot(direction).item(), rel=1e-5, abs=1e-9)
    assert abs(numeric - flat(first_order).dot(direction).item()) > 1e3 * abs(numeric - flat(grads).dot(direction).item())


def test_lvc_and_reinforce_take_the_same_inner_step_but_differ_in_curvature():
    ad = adaptation("maml")
    pre, post = synthetic_rollout(ad, 1), synthetic_rollout(ad, 2)
    steps = [inner_update(ad, ad.initial(N), pre, kind, create_graph=False, first=True) for kind in ("reinforce", "lvc")]
    for name in steps[0]:
        torch.testing.assert_close(steps[0][name], steps[1][name])
    params = list(ad.parameters())
    g_reinforce = torch.autograd.grad(meta_loss(ad, pre, post, "reinforce"), params)
    g_lvc = torch.autograd.grad(meta_loss(ad, pre, post, "lvc"), params)
    assert any(not torch.allclose(a, b) for a, b in zip(g_reinforce, g_lvc))


def test_advantages_are_per_task_and_normalised_over_valid_steps():
    ad = adaptation("maml")
    rollout = synthetic_rollout(ad, 3)
    adv = compute_advantages(rollout, 0.99, 1.0, 1e-5)
    for i in range(N):
        valid = adv[:, i][rollout.mask[:, i]]
        assert valid.mean().abs() < 1e-6 and (valid.var(unbiased=False) - 1).abs() < 1e-4
    rollout.rewards[:, 2] *= 100  # another task's rewards must not change task 0's advantages
    torch.testing.assert_close(compute_advantages(rollout, 0.99, 1.0, 1e-5)[:, 0], adv[:, 0])


def test_collect_runs_one_episode_per_sub_env_with_each_tasks_parameters():
    ad = MAMLAdaptation(MetaPolicy(2, BOX_NAV, (8,)), 0.1, meta_sgd=False)
    env = gym.make_vec("metarl/Navigation2D-v0", num_envs=2 * 3, vectorization_mode="vector_entry_point",
                       autoreset_mode="disabled")  # fmt: skip
    fast = {k: v.detach().clone() for k, v in ad.initial(2).items()}
    fast["head.log_std"][1] = -20.0  # task 1 acts (almost) deterministically
    rollout = collect(env, ad, fast, 3, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert rollout.obs.shape == (100, 2, 3, 2) and rollout.mask.all()
    assert (rollout.dones.sum(0) == 1).all() and rollout.dones[-1].all() and (rollout.time[:, 0, 0] == torch.arange(100)).all()
    spread = (rollout.actions - rollout.old_out).abs().amax(dim=(0, 2, 3))
    assert spread[0] > 1.0 and spread[1] < 1e-6
    torch.testing.assert_close(rollout.env_actions, rollout.actions.clamp(-0.1, 0.1))



def test_agent_takes_an_inner_step_after_every_inner_episodes_episodes():
    cfg = GradientMetaConfig(inner_episodes=2, num_inner_steps=1, test_inner_steps=2, hidden_sizes=(8,))
    ad = MAMLAdaptation(MetaPolicy(2, BOX_NAV, (8,)), 0.1, meta_sgd=False)
    agent = GradientMetaAgent(ad, cfg, torch.device("cpu"), 0, "maml")
    env = gym.make_vec("metarl/Navigation2D-v0", num_envs=4, vectorization_mode="vector_entry_point",
                       autoreset_mode="disabled")  # fmt: skip
    updates = []
    original = agent.end_episode

    def spy(state):
        state = original(state)
        updates.append(state.updates)
        return state

    agent.end_episode = spy
    out = run_adaptation(agent, env, episodes=7, seed=0)
    assert updates == [0, 1, 1, 2, 2, 2, 2] and out.returns.shape == (4, 7)
    initial = dict(ad.policy.named_parameters())
    fast = out.state.fast
    assert set(fast) == set(initial) and all(not torch.equal(fast[k][0], initial[k]) for k in initial)
    assert not torch.equal(fast["layers.0.weight"][0], fast["layers.0.weight"][1])  # each task adapted on its own
