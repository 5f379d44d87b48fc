"""Batched faces of the analytic families: equal to the single env, tasks per sub-env, autoreset."""

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.vector import AutoresetMode

import metarl
from metarl.core.vector import AnalyticVectorEnv

ANALYTIC = [f"metarl/{name}-v0" for name in metarl.envs.ANALYTIC_FAMILIES]
DETERMINISTIC_TASKS = {  # degenerate tasks make the stochastic families deterministic
    "metarl/BernoulliBandit-v0": lambda i: {"arm_probs": np.eye(5, dtype=np.float32)[i % 5]},
    "metarl/TabularMDP-v0": lambda i: {
        "transitions": np.eye(10, dtype=np.float32)[(np.arange(50).reshape(10, 5) + i) % 10],
        "reward_means": np.full((10, 5), float(i), np.float32),
    },
}


def make_vec(env_id, num_envs, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", **kwargs)


def test_every_analytic_family_has_a_batched_face():
    assert len(ANALYTIC) == 7
    env = make_vec("metarl/PointRobot-v0", 3, device="cpu")
    assert isinstance(env, AnalyticVectorEnv) and env.max_episode_steps == 20
    assert env.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP


@pytest.mark.parametrize("env_id", ANALYTIC)
def test_one_sub_env_equals_the_single_env_with_the_same_seed(env_id):
    """Same task, seed and actions for 150 steps: identical observations and rewards, noise included."""
    single = gym.make(env_id)
    task = single.unwrapped.task_set("test")[0]
    single.unwrapped.set_task(task)
    batched = make_vec(env_id, 1, tasks=[task], autoreset_mode="disabled")
    obs_s, _ = single.reset(seed=11)
    obs_b, _ = batched.reset(seed=11)
    single.action_space.seed(0)
    for _ in range(150):
        np.testing.assert_allclose(obs_b[0].numpy(), obs_s, atol=1e-6)
        action = single.action_space.sample()
        obs_s, r_s, term_s, trunc_s, _ = single.step(action)
        obs_b, r_b, term_b, trunc_b, _ = batched.step(np.asarray(action)[None])
        assert r_b[0].item() == pytest.approx(r_s, abs=1e-5)
        assert (term_b[0].item(), trunc_b[0].item()) == (term_s, trunc_s)
        if term_s or trunc_s:
            obs_s, _ = single.reset()
            obs_b, _ = batched.reset()


@pytest.mark.parametrize("env_id", ANALYTIC)
def test_each_sub_env_equals_a_single_env_on_its_own_task(env_id):
    """Six sub-envs on six tasks against six single envs, 100 steps through autoresets.

    Rewards are compared exactly where the task makes them deterministic; Gaussian reward noise
    (bandit, MDP) is compared with one sub-env above and through its moments below.
    """
    n = 6
    make_task = DETERMINISTIC_TASKS.get(env_id)
    tasks = [make_task(i) for i in range(n)] if make_task else gym.make(env_id).unwrapped.sample_tasks(n, seed=5)
    noisy = env_id in ("metarl/GaussianBandit-v0", "metarl/TabularMDP-v0")
    batched = make_vec(env_id, n, tasks=tasks)
    singles = [gym.make(env_id, task=t) for t in tasks]
    obs_b, _ = batched.reset(seed=0)
    for env in singles:
        env.reset(seed=0)
        env.action_space.seed(0)
    for _ in range(100):
        actions = [env.action_space.sample() for env in singles]
        obs_b, r_b, term_b, trunc_b, info = batched.step(np.stack(actions))
        for i, env in enumerate(singles):
            obs, reward, term, trunc, _ = env.step(actions[i])
            if not noisy:
                assert r_b[i].item() == pytest.approx(reward, abs=1e-5)
            assert (term_b[i].item(), trunc_b[i].item()) == (term, trunc)
            assert info["_final_obs"][i].item() == (term or trunc)
            if term or trunc:
                np.testing.assert_allclose(info["final_obs"][i].numpy(), obs, atol=1e-6)
                obs, _ = env.reset()
            np.testing.assert_allclose(obs_b[i].numpy(), obs, atol=1e-6)


def test_gaussian_bandit_batched_rewards_have_the_task_means():
    means = np.array([[2.0, -1.0, 0.0, 0.5, 1.0]] * 4000, np.float32)
    env = make_vec("metarl/GaussianBandit-v0", 4000, tasks={"arm_means": means})
    env.reset(seed=0)
    _, reward, terminated, *_ = env.step(torch.full((4000,), 1))
    assert terminated.all()
    assert reward.mean().item() == pytest.approx(-1.0, abs=0.06)
    assert reward.std().item() == pytest.approx(1.0, abs=0.05)


def test_set_tasks_with_mask_changes_only_selected_sub_envs_and_reset_keeps_tasks():
    env = make_vec("metarl/PointRobot-v0", 4)
    before = env.get_tasks()["goal"]
    env.reset(seed=0)
    env.set_tasks({"goal": torch.tensor([[0.5, 0.5], [-0.5, 0.5]])}, env_mask=torch.tensor([False, True, False, True]))
    after = env.get_tasks()["goal"]
    torch.testing.assert_close(after[[0, 2]], before[[0, 2]])
    torch.testing.assert_close(after[[1, 3]], torch.tensor([[0.5, 0.5], [-0.5, 0.5]]))
    env.reset(seed=1)
    for _ in range(25):  # through an autoreset at step 20
        env.step(torch.zeros(4, 2))
    torch.testing.assert_close(env.get_tasks()["goal"], after)
    _, reward, *_ = env.step(torch.zeros(4, 2))
    torch.testing.assert_close(reward, -torch.linalg.vector_norm(after, dim=-1))


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda e: e.set_tasks([{"goal": [0.1, 0.1]}]), "got 1 tasks for 4 selected sub-envs"),
        (lambda e: e.set_tasks([{"goal": [3.0, 0.1]}] * 4), r"'goal'.*outside the allowed range"),
        (lambda e: e.set_tasks([{"goal": [0.1, 0.1]}], env_mask=[True, False]), "shape \\(4,\\)"),
        (lambda e: e.step(torch.zeros(4, 2)), "call reset"),
    ],
)
def test_bad_task_batches_are_rejected(call, message):
    env = make_vec("metarl/PointRobot-v0", 4)
    before = env.get_tasks()
    with pytest.raises((ValueError, RuntimeError), match=message):
        call(env)
    torch.testing.assert_close(env.get_tasks(), before)


def test_same_step_autoreset_and_disabled_mode_with_reset_mask():
    env = make_vec("metarl/GridNavigation-v0", 3)
    obs, _ = env.reset(seed=0)
    for t in range(15):
        obs, _, terminated, truncated, info = env.step(torch.full((3,), 2))  # move right
    assert truncated.all() and not terminated.any()
    torch.testing.assert_close(info["final_obs"], torch.tensor([[4.0, 0.0]] * 3))
    torch.testing.assert_close(obs, torch.zeros(3, 2))  # already the next episode's start

    env = make_vec("metarl/GridNavigation-v0", 3, autoreset_mode="disabled")
    assert env.metadata["autoreset_mode"] is AutoresetMode.DISABLED
    env.reset(seed=0)
    for t in range(15):
        obs, *_ , info = env.step(torch.full((3,), 2))
    assert info == {}
    torch.testing.assert_close(obs, torch.tensor([[4.0, 0.0]] * 3))
    obs, _ = env.reset(options={"reset_mask": torch.tensor([True, False, True])})
    torch.testing.assert_close(obs, torch.tensor([[0.0, 0.0], [4.0, 0.0], [0.0, 0.0]]))


def test_reset_seed_makes_the_whole_batch_reproducible():
    def run(seed):
        env = make_vec("metarl/TabularMDP-v0", 64)
        env.reset(seed=seed)
        gen = torch.Generator().manual_seed(0)
        out = [env.step(torch.randint(0, 5, (64,), generator=gen))[:2] for _ in range(30)]
        return torch.stack([o for o, _ in out]), torch.stack([r for _, r in out])

    a, b, c = run(3), run(3), run(4)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_resolve_device():
    from metarl.core.vector import resolve_device

    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda:0")
