"""Gradient-based meta-RL shared by MAML (with Meta-SGD and ProMP) and CAVIA: one implementation of
the batched inner loop, the meta-objective and its outer optimisers, the trainer and the agent.

Every task of a meta-batch has its own *fast parameters* (a dict of tensors with a leading task
dim ``n``): MAML's are a copy of all policy weights, CAVIA's a context vector fed to a shared
network. An ``Adaptation`` module says which: it owns every meta-parameter (the policy and, e.g.,
Meta-SGD's learning rates or a latent encoder), gives the fast parameters of fresh tasks
(``initial``) and applies one gradient step to them (``step``).

- **Batched policy.** ``task_outputs`` evaluates the policy with per-task parameters for all
  tasks at once: ``torch.func.vmap`` over ``torch.func.functional_call`` of one ``MetaPolicy``
  module. Shared parameters enter as views expanded along the task dim.
- **Inner step for all tasks at once.** The per-task inner losses are summed and differentiated
  with respect to the batched fast parameters: task ``i``'s loss depends only on row ``i``, so
  one ``torch.autograd.grad`` call yields every task's own gradient, with ``create_graph=True``
  for exact second-order meta-gradients (``first_order`` detaches them instead: FOMAML). No
  Python loop over tasks; ``tests/test_gradient_meta.py`` checks the result against a per-task
  loop and finite differences.
- **Advantages.** Per task: a linear feature baseline (Duan et al. 2016) fitted by ridge
  regression on the task's own discounted returns, GAE (``gae_lambda`` 1 by default, as
  pytorch-maml-rl and ProMP), and advantages normalised over the task's valid steps.
- **Inner objectives.** ``reinforce``: ``-mean(log pi(a|s) A)`` (MAML / pytorch-maml-rl);
  ``lvc``: ProMP's low-variance curvature objective ``-mean(pi(a|s) / stop_grad(pi_old(a|s)) A)``,
  the same gradient at the sampling policy but a Hessian whose estimate has lower variance; it
  is also the importance-weighted objective used when the fast parameters differ from the
  sampling ones (CAVIA's encoder proposal).
- **Outer optimisers** of the post-adaptation surrogate (ratio of the adapted policy to the one
  that sampled the post-adaptation episodes): ``trpo`` (conjugate gradient on the
  Fisher-vector product of the KL of the adapted policies, differentiated through the inner
  step, and a backtracking line search, as pytorch-maml-rl's MAML-TRPO), ``ppo`` (clipped
  surrogate, several Adam epochs, the adaptation recomputed each epoch) and ``promp`` (``ppo``
  plus ProMP's penalty on the KL between the pre-update policy and the one that sampled the
  pre-update episodes; LVC inner objective by default).

Training (``GradientMetaLearner``): per iteration, ``meta_batch`` tasks drawn from the family's
distribution; per task ``inner_episodes`` episodes in parallel sub-envs with the task's current
fast parameters, an inner step, again, ``num_inner_steps`` times, then the post-adaptation
episodes and the outer update. Meta-test (``GradientMetaAgent``, the adaptation interface):
``end_episode`` takes an inner step each time ``inner_episodes`` episodes of the tasks have been
gathered through ``observe``, up to ``test_inner_steps`` steps, so an evaluation of
``inner_episodes * (test_inner_steps + 1)`` episodes shows the returns before and after each
step (``metarl.runner.evaluation.run_adaptation``'s episode ``k`` is the ``((k-1) mod K)+1``-th episode
after ``(k-1) // K`` inner steps).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import gymnasium as gym
import numpy as np
import torch
import torch.nn as nn
from torch import Tensor
from torch.distributions import Distribution, kl_divergence
from torch.func import functional_call, vmap

from metarl.common.checks import check
from metarl.common.config import RunConfig
from metarl.common.onpolicy import (
    ActionHead,
    PPOConfig,
    TRPOConfig,
    clip_grad_and_step,
    discounted_returns,
    fit_linear_baseline,
    gae,
    linear_baseline_features,
    normalize,
    ppo_losses,
    trpo_step,
)
from metarl.common.protocol import Transition
from metarl.common.training_env import make_training_env
from metarl.core.tasks import Task

#: Per-task fast parameters: name -> tensor with a leading task dim.
FastParams = dict[str, Tensor]

ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}


# ----- configuration ------------------------------------------------------------------------------
@dataclass
class OuterPPOConfig:
    """The clipped outer objective of ``outer: ppo | promp``; defaults are ProMP's run scripts
    (Adam 1e-3, 5 steps per batch without re-sampling, clip 0.3, no gradient clipping)."""

    lr: float = 1e-3
    epochs: int = 5
    clip: float = 0.3
    max_grad_norm: float | None = None

    def __post_init__(self) -> None:
        for name in ("lr", "epochs", "clip"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        check(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "null or > 0")


@dataclass
class ProMPConfig:
    """ProMP's penalty on the KL between the pre-update policy and the one that sampled the
    pre-update episodes (per inner step); defaults are ProMP's run scripts (fixed 5e-4)."""

    inner_kl_coeff: float = 5e-4
    adaptive_inner_kl: bool = False
    target_inner_kl: float = 0.01

    def __post_init__(self) -> None:
        check(self.inner_kl_coeff >= 0, "inner_kl_coeff", self.inner_kl_coeff, ">= 0")
        check(self.target_inner_kl > 0, "target_inner_kl", self.target_inner_kl, "> 0")


@dataclass
class GradientMetaConfig:
    """What MAML and CAVIA share; defaults are pytorch-maml-rl's 2D-navigation config
    (``configs/maml/2d-navigation.yaml``) with MAML-TRPO's trust region."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: Literal["tanh", "relu"] = "tanh"
    init_log_std: float = 0.0
    meta_batch: int = 20
    inner_episodes: int = 20  # episodes per task before each inner step (fast batch), also at meta-test
    num_inner_steps: int = 1
    inner_lr: float = 0.1
    first_order: bool = False
    inner_loss: Literal["reinforce", "lvc"] | None = None  # null: lvc for outer promp, else reinforce
    outer: Literal["trpo", "ppo", "promp"] = "trpo"
    gamma: float = 0.99
    gae_lambda: float = 1.0
    baseline_reg: float = 1e-5
    trpo: TRPOConfig = field(default_factory=TRPOConfig)
    ppo: OuterPPOConfig = field(default_factory=OuterPPOConfig)
    promp: ProMPConfig = field(default_factory=ProMPConfig)
    test_inner_steps: int | None = None  # inner steps at meta-test; null: num_inner_steps
    deterministic_after_adaptation: bool = False  # mean actions after the last meta-test step, when asked

    def __post_init__(self) -> None:
        check(len(self.hidden_sizes) > 0 and all(h > 0 for h in self.hidden_sizes), "hidden_sizes",
              self.hidden_sizes, "a non-empty list of positive widths")  # fmt: skip
        for name in ("meta_batch", "inner_episodes", "num_inner_steps", "inner_lr"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        check(0 <= self.gamma <= 1, "gamma", self.gamma, "[0, 1]")
        check(0 <= self.gae_lambda <= 1, "gae_lambda", self.gae_lambda, "[0, 1]")
        check(self.baseline_reg > 0, "baseline_reg", self.baseline_reg, "> 0")
        steps = self.test_inner_steps
        check(steps is None or steps >= 0, "test_inner_steps", steps, "null or an integer >= 0")

    @property
    def inner_objective(self) -> str:
        """The inner loss in use: ``inner_loss``, or its default for the outer optimiser."""
        if self.inner_loss is not None:
            return self.inner_loss
        return "lvc" if self.outer == "promp" else "reinforce"

    @property
    def meta_test_steps(self) -> int:
        """Inner steps the agent takes at meta-test."""
        return self.num_inner_steps if self.test_inner_steps is None else self.test_inner_steps


# ----- the policy ---------------------------------------------------------------------------------
class MetaPolicy(nn.Module):
    """An MLP policy ``pi(a | s[, context])`` whose ``forward`` returns tensors, so that it can be
    evaluated with per-task parameters under ``vmap`` (``task_outputs``).

    ``forward`` returns the action head's linear output (Gaussian mean or logits); the
    distribution is built with ``distribution``. With ``context_dim > 0`` it takes a context
    vector per call: ``context_mode="concat"`` appends it to the observation (CAVIA's RL
    networks), ``"film"`` modulates the first hidden layer, ``h = act((1 + gamma) * (W s + b) +
    beta)`` with ``[gamma, beta]`` a linear function of the context (CAVIA's FiLM option, zero
    at a zero context). Hidden layers are Xavier-uniform with zero biases (as pytorch-maml-rl).
    """

    def __init__(
        self,
        obs_dim: int,
        action_space: gym.spaces.Space,
        hidden_sizes: tuple[int, ...] = (64, 64),
        activation: str = "tanh",
        init_log_std: float = 0.0,
        context_dim: int = 0,
        context_mode: Literal["concat", "film"] = "concat",
    ) -> None:
        super().__init__()
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is unknown; allowed: {list(ACTIVATIONS)}")
        if context_mode not in ("concat", "film"):
            raise ValueError(f"context_mode={context_mode!r} is unknown; allowed: 'concat', 'film'")
        self.context_dim, self.context_mode = context_dim, context_mode
        widths = [obs_dim + (context_dim if context_mode == "concat" else 0), *hidden_sizes]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths, widths[1:]))
        for layer in self.layers:
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.act = ACTIVATIONS[activation]()
        if context_dim and context_mode == "film":
            self.film = nn.Linear(context_dim, 2 * hidden_sizes[0])
        self.head = ActionHead(hidden_sizes[-1], action_space, init_log_std)

    def forward(self, obs: Tensor, context: Tensor | None = None) -> Tensor:
        """Head outputs ``(..., out)`` for observations ``(..., obs_dim)`` and a context ``(context_dim,)``
        (one task's: under ``vmap`` each task sees its own)."""
        x = obs
        if self.context_dim and self.context_mode == "concat":
            x = torch.cat([x, context.expand(*x.shape[:-1], self.context_dim)], dim=-1)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i == 0 and self.context_dim and self.context_mode == "film":
                gamma, beta = self.film(context).chunk(2, dim=-1)
                x = (1.0 + gamma) * x + beta
            x = self.act(x)
        return self.head.linear(x)


def expand_params(params: dict[str, Tensor], n: int) -> FastParams:
    """``params`` as ``n`` per-task views (no copy; gradients flow back to the originals)."""
    return {name: p.expand(n, *p.shape) for name, p in params.items()}


def task_outputs(policy: MetaPolicy, params: FastParams, obs: Tensor, context: Tensor | None = None) -> Tensor:
    """``policy``'s outputs ``(n, B, out)`` for task ``i``'s observations ``obs[i]`` ``(B, obs_dim)``
    under task ``i``'s parameters ``params[name][i]`` (and context ``context[i]``), for all tasks at
    once with ``vmap`` over ``functional_call``."""
    if context is None:
        return vmap(lambda p, o: functional_call(policy, p, (o,)))(params, obs)
    return vmap(lambda p, o, c: functional_call(policy, p, (o, c)))(params, obs, context)


def task_distribution(policy: MetaPolicy, params: FastParams, out: Tensor) -> Distribution:
    """The action distribution of outputs ``out`` ``(n, B, out)``, with each task's own log std."""
    log_std = params.get("head.log_std")
    return policy.head.distribution(out, None if log_std is None else log_std[:, None, :])


# ----- adaptation ---------------------------------------------------------------------------------
class Adaptation(Protocol):
    """Which parameters the inner loop adapts, and how. Implementations are ``nn.Module``s owning
    every meta-parameter: their ``parameters()`` are what the outer loop trains and their
    ``state_dict()`` what checkpoints save."""

    policy: MetaPolicy

    def initial(self, n: int) -> FastParams:
        """Fast parameters of ``n`` fresh tasks, differentiable with respect to the meta-parameters."""
        ...

    def policy_inputs(self, fast: FastParams) -> tuple[FastParams, Tensor | None]:
        """Per-task policy parameters and contexts (``None`` without context) for ``task_outputs``."""
        ...

    def propose(self, fast: FastParams, rollout: Rollout) -> FastParams:
        """Fast parameters before the first inner step, given its episodes (e.g. an encoder's guess)."""
        ...

    def step(self, fast: FastParams, grads: FastParams) -> FastParams:
        """One inner gradient step."""
        ...


# ----- rollouts -----------------------------------------------------------------------------------
@dataclass
class Rollout:
    """Episodes of ``n`` tasks, time-major ``(T, n, R, ...)``: ``R`` episodes per task side by side
    (training: parallel sub-envs) or one column of consecutive episodes (meta-test).

    ``actions`` are the policy's unclipped samples (what log-probabilities are of), ``env_actions``
    what the env got; ``mask`` marks valid steps; ``dones`` the steps that ended an episode;
    ``time`` the step index within the episode; ``old_out``/``old_log_std``/``old_log_prob`` the
    sampling policy's outputs. ``advantages`` are filled in by ``compute_advantages``.
    """

    obs: Tensor
    actions: Tensor
    env_actions: Tensor
    rewards: Tensor
    next_obs: Tensor
    dones: Tensor
    mask: Tensor
    time: Tensor
    old_out: Tensor
    old_log_prob: Tensor
    old_log_std: Tensor | None
    advantages: Tensor | None = None

    @property
    def num_tasks(self) -> int:
        """``n``."""
        return self.obs.shape[1]

    def task_major(self, x: Tensor) -> Tensor:
        """``(T, n, R, ...)`` -> ``(n, T * R, ...)``, the layout ``task_outputs`` reads."""
        return x.transpose(0, 1).flatten(1, 2)

    def time_major(self, x: Tensor) -> Tensor:
        """Inverse of ``task_major``."""
        T, R = self.obs.shape[0], self.obs.shape[2]
        return x.unflatten(1, (T, R)).transpose(0, 1)


def stack_steps(steps: list[dict[str, Tensor]], log_std: Tensor | None) -> Rollout:
    """A ``Rollout`` with ``R = 1`` from per-step dicts of ``(n, ...)`` tensors (meta-test buffers)."""
    fields = {k: torch.stack([s[k] for s in steps])[:, :, None] for k in steps[0]}
    return Rollout(**fields, old_log_std=log_std)


def compute_advantages(rollout: Rollout, gamma: float, gae_lambda: float, baseline_reg: float) -> Tensor:
    """Per-task advantages ``(T, n, R)``: linear feature baseline fitted on the task's discounted
    returns, GAE cut at episode ends (no bootstrap: time limits count as ends, as the references),
    normalised over the task's valid steps."""
    T, n, R = rollout.rewards.shape
    rewards = rollout.rewards * rollout.mask
    flat = lambda x: x.reshape(T, n * R)  # noqa: E731
    returns = discounted_returns(flat(rewards), flat(rollout.dones), gamma).view(T, n, R)
    features = rollout.task_major(linear_baseline_features(rollout.obs, rollout.time))
    values = fit_linear_baseline(features, rollout.task_major(returns), rollout.task_major(rollout.mask), baseline_reg)
    values = rollout.time_major(values) * rollout.mask
    advantages, _ = gae(flat(rewards), flat(values), flat(rollout.dones), torch.zeros(n * R, device=rewards.device),
                        gamma, gae_lambda)  # fmt: skip
    return normalize(advantages.view(T, n, R), rollout.mask, dim=(0, 2))


def per_task_mean(x: Tensor, mask: Tensor) -> Tensor:
    """Mean of ``x`` ``(T, n, R)`` over each task's valid steps: ``(n,)``."""
    m = mask.to(x.dtype)
    return (x * m).sum((0, 2)) / m.sum((0, 2)).clamp(min=1.0)


def policy_log_prob(adaptation: Adaptation, fast: FastParams, rollout: Rollout) -> tuple[Tensor, Distribution]:
    """Log-probabilities ``(T, n, R)`` of the rollout's actions under the fast parameters, and the
    distribution (task-major batch shape ``(n, T * R)``)."""
    params, context = adaptation.policy_inputs(fast)
    out = task_outputs(adaptation.policy, params, rollout.task_major(rollout.obs), context)
    dist = task_distribution(adaptation.policy, params, out)
    return rollout.time_major(dist.log_prob(rollout.task_major(rollout.actions))), dist


def old_distribution(policy: MetaPolicy, rollout: Rollout) -> Distribution:
    """The sampling policy's distribution on the rollout (task-major), for KL divergences."""
    log_std = None if rollout.old_log_std is None else rollout.old_log_std[:, None, :]
    return policy.head.distribution(rollout.task_major(rollout.old_out), log_std)


def inner_losses(kind: str, log_prob: Tensor, rollout: Rollout) -> Tensor:
    """Per-task inner losses ``(n,)``: ``reinforce`` ``-mean(log pi A)`` or ``lvc``
    ``-mean(pi / pi_old A)`` (ProMP's low-variance curvature objective)."""
    if kind == "reinforce":
        weighted = log_prob * rollout.advantages
    elif kind == "lvc":
        weighted = torch.exp(log_prob - rollout.old_log_prob) * rollout.advantages
    else:
        raise ValueError(f"inner loss {kind!r} is unknown; allowed: 'reinforce', 'lvc'")
    return -per_task_mean(weighted, rollout.mask)


def inner_update(adaptation: Adaptation, fast: FastParams, rollout: Rollout, kind: str, create_graph: bool,
                 first: bool) -> FastParams:  # fmt: skip
    """The fast parameters after one inner step on ``rollout`` for every task at once.

    The per-task losses are summed and differentiated with respect to the batched fast
    parameters (each task's loss depends on its own row only, so row ``i`` of the gradient is
    task ``i``'s gradient). ``create_graph`` keeps the graph for second-order meta-gradients;
    without it the step is a constant shift (first-order MAML). ``first``: the task's first
    step, preceded by ``Adaptation.propose``.
    """
    with torch.enable_grad():
        if first:
            fast = adaptation.propose(fast, rollout)
        # Fast parameters detached from the meta-parameters (meta-test) still need gradients.
        fast = {k: v if v.requires_grad else v.detach().requires_grad_() for k, v in fast.items()}
        log_prob, _ = policy_log_prob(adaptation, fast, rollout)
        loss = inner_losses(kind, log_prob, rollout).sum()
        grads = torch.autograd.grad(loss, list(fast.values()), create_graph=create_graph)
    return adaptation.step(fast, dict(zip(fast, grads)))


def adapt(adaptation: Adaptation, rollouts: list[Rollout], kind: str, create_graph: bool) -> list[FastParams]:
    """Fast parameters before each rollout: ``[initial, after step 1, ..., after step len(rollouts)]``."""
    fast = [adaptation.initial(rollouts[0].num_tasks)]
    for k, rollout in enumerate(rollouts):
        fast.append(inner_update(adaptation, fast[-1], rollout, kind, create_graph, first=k == 0))
    return fast


def detached(fast: FastParams) -> FastParams:
    """``fast`` cut from the meta-parameters' graph."""
    return {k: v.detach() for k, v in fast.items()}


@torch.no_grad()
def collect(env: Any, adaptation: Adaptation, fast: FastParams, episodes: int, generator: torch.Generator,
            device: torch.device) -> Rollout:  # fmt: skip
    """One episode in each of ``env``'s ``n * episodes`` sub-envs (task ``i`` on sub-envs
    ``i * episodes ... (i + 1) * episodes - 1``, autoreset disabled), stepped in lockstep until all
    ended, acting with task ``i``'s fast parameters. Sub-envs that ended wait with invalid rows."""
    policy = adaptation.policy
    n = next(iter(fast.values())).shape[0]
    params, context = adaptation.policy_inputs(fast)
    obs, _ = env.reset(seed=int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=device)))
    obs = obs.to(device, torch.float32)
    active = torch.ones(env.num_envs, dtype=torch.bool, device=device)
    time = torch.zeros(env.num_envs, dtype=torch.long, device=device)
    steps: list[dict[str, Tensor]] = []
    while bool(active.any()):
        out = task_outputs(policy, params, obs.view(n, episodes, -1), context)
        dist = task_distribution(policy, params, out)
        action = policy.head.sample(dist, generator)
        env_action = policy.head.to_env_action(action).flatten(0, 1)
        next_obs, reward, terminated, truncated, _ = env.step(env_action)
        next_obs = next_obs.to(device, torch.float32)
        done = (terminated | truncated).to(device) & active
        reward = torch.where(active, reward.to(device, torch.float32), 0.0)
        shape = lambda x: x.view(n, episodes, *x.shape[1:])  # noqa: E731
        steps.append({
            "obs": shape(obs), "actions": action, "env_actions": shape(env_action), "rewards": shape(reward),
            "next_obs": shape(next_obs), "dones": shape(done), "mask": shape(active.clone()), "time": shape(time.clone()),
            "old_out": out, "old_log_prob": dist.log_prob(action),
        })  # fmt: skip
        obs = torch.where(active[:, None], next_obs, obs)
        time = time + active.long()
        active = active & ~done
    fields = {k: torch.stack([s[k] for s in steps]) for k in steps[0]}
    log_std = params.get("head.log_std")
    return Rollout(**fields, old_log_std=None if log_std is None else log_std.clone())


# ----- the meta-objective -------------------------------------------------------------------------
@dataclass
class MetaObjective:
    """The post-adaptation surrogate terms for the current meta-parameters."""

    log_prob: Tensor  # (T, n, R) adapted policy on the last rollout
    kl: Tensor  # scalar: mean over tasks of KL(sampling || adapted) on the last rollout
    inner_kls: list[Tensor]  # per inner step: mean KL(sampling || current pre-step policy)

    def ratio(self, rollout: Rollout) -> Tensor:
        """Likelihood ratio of the adapted policy to the sampling one ``(T, n, R)``."""
        return torch.exp(self.log_prob - rollout.old_log_prob)


def mean_kl(dist_old: Distribution, dist_new: Distribution, rollout: Rollout) -> Tensor:
    """Mean over tasks of the mean KL over each task's valid steps."""
    return per_task_mean(rollout.time_major(kl_divergence(dist_old, dist_new)), rollout.mask).mean()


def meta_objective(adaptation: Adaptation, rollouts: list[Rollout], kind: str, create_graph: bool,
                   inner_kl: bool = False) -> MetaObjective:  # fmt: skip
    """Recompute the adaptation from the meta-parameters through the pre-adaptation rollouts,
    and evaluate the adapted policies on the last rollout. ``inner_kl``: also the KL of each
    pre-step policy from the one that sampled its rollout (ProMP's penalty)."""
    fast = adapt(adaptation, rollouts[:-1], kind, create_graph)
    inner_kls = []
    if inner_kl:
        for f, rollout in zip(fast[:-1], rollouts[:-1]):
            _, dist = policy_log_prob(adaptation, f, rollout)
            inner_kls.append(mean_kl(old_distribution(adaptation.policy, rollout), dist, rollout))
    last = rollouts[-1]
    log_prob, dist = policy_log_prob(adaptation, fast[-1], last)
    return MetaObjective(log_prob, mean_kl(old_distribution(adaptation.policy, last), dist, last), inner_kls)


def surrogate_loss(objective: MetaObjective, rollout: Rollout) -> Tensor:
    """MAML-TRPO's outer loss: mean over tasks of ``-mean(ratio * A)`` on the post-adaptation rollout."""
    return -per_task_mean(objective.ratio(rollout) * rollout.advantages, rollout.mask).mean()


def task_weights(rollout: Rollout) -> Tensor:
    """Weights ``(T, n, R)`` that turn a weighted mean over all entries into the mean over tasks of
    per-task means (``ppo_losses`` reads them as its mask)."""
    m = rollout.mask.float()
    return m / m.sum((0, 2), keepdim=True).clamp(min=1.0)


# ----- training -----------------------------------------------------------------------------------
class GradientMetaLearner:
    """Meta-training of an ``Adaptation`` on the tasks of ``env`` (the shared ``Trainer``)."""

    def __init__(self, cfg: GradientMetaConfig, env: Any, adaptation: nn.Module, device: torch.device, seed: int,
                 name: str) -> None:  # fmt: skip
        if env.num_envs != cfg.meta_batch * cfg.inner_episodes:
            raise ValueError(f"env has {env.num_envs} sub-envs; expected meta_batch * inner_episodes = "
                             f"{cfg.meta_batch} * {cfg.inner_episodes}")  # fmt: skip
        self.cfg, self.env, self.device = cfg, env, device
        self.adaptation = adaptation.to(device)
        self.generator = torch.Generator(device).manual_seed(seed)
        self.agent = GradientMetaAgent(self.adaptation, cfg, device, seed + 1, name)
        self.optimizer = torch.optim.Adam(self.adaptation.parameters(), lr=cfg.ppo.lr) if cfg.outer != "trpo" else None
        self.inner_kl_coeffs = [cfg.promp.inner_kl_coeff] * cfg.num_inner_steps
        self.env_steps = 0
        self.iterations = 0
        self.episode_returns: list[float] = []

    def sample_tasks(self) -> list[Task]:
        """``meta_batch`` tasks from the family's training distribution (seeded by the learner)."""
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator, device=self.device))
        return self.env.sample_tasks(self.cfg.meta_batch, seed=seed)

    def collect_rollouts(self, tasks: list[Task]) -> list[Rollout]:
        """Pre-adaptation episodes, an inner step, ... and the post-adaptation episodes of ``tasks``."""
        cfg = self.cfg
        self.env.set_tasks([t for t in tasks for _ in range(cfg.inner_episodes)])
        kind = cfg.inner_objective
        fast = detached(self.adaptation.initial(len(tasks)))
        rollouts: list[Rollout] = []
        for k in range(cfg.num_inner_steps + 1):
            rollout = collect(self.env, self.adaptation, fast, cfg.inner_episodes, self.generator, self.device)
            rollout.advantages = compute_advantages(rollout, cfg.gamma, cfg.gae_lambda, cfg.baseline_reg)
            rollouts.append(rollout)
            self.env_steps += int(rollout.mask.sum())
            if k < cfg.num_inner_steps:
                fast = detached(inner_update(self.adaptation, fast, rollout, kind, create_graph=False, first=k == 0))
        return rollouts

    def train_iteration(self) -> dict[str, float]:
        """One meta-update on a fresh meta-batch of tasks."""
        rollouts = self.collect_rollouts(self.sample_tasks())
        returns = [r.rewards.sum(0) for r in rollouts]  # (n, R): one episode per sub-env
        self.episode_returns.extend(returns[-1].flatten().tolist())
        metrics = self.outer_update(rollouts) if self.cfg.outer == "trpo" else self.ppo_update(rollouts)
        metrics["charts/return_before_adaptation"] = returns[0].mean().item()
        metrics["charts/return_after_adaptation"] = returns[-1].mean().item()
        self.iterations += 1
        return metrics

    def outer_update(self, rollouts: list[Rollout]) -> dict[str, float]:
        """MAML-TRPO's meta-update (second-order unless ``first_order``; the line search evaluates
        the adaptation with first-order inner steps, as only values are needed)."""
        cfg, last = self.cfg, rollouts[-1]

        def objective(differentiable: bool) -> tuple[Tensor, Tensor]:
            obj = meta_objective(self.adaptation, rollouts, cfg.inner_objective, differentiable and not cfg.first_order)
            loss, kl = surrogate_loss(obj, last), obj.kl
            return (loss, kl) if differentiable else (loss.detach(), kl.detach())

        return trpo_step(list(self.adaptation.parameters()), objective, cfg.trpo)

    def ppo_update(self, rollouts: list[Rollout]) -> dict[str, float]:
        """``ppo.epochs`` Adam steps on the clipped post-adaptation surrogate (``promp``: plus the
        inner KL penalty), the adaptation recomputed from the current meta-parameters each time."""
        cfg, last = self.cfg, rollouts[-1]
        clip_cfg = PPOConfig(clip=cfg.ppo.clip)
        weights = task_weights(last)
        zeros = torch.zeros_like(last.rewards)
        max_norm = math.inf if cfg.ppo.max_grad_norm is None else cfg.ppo.max_grad_norm
        promp = cfg.outer == "promp"
        for _ in range(cfg.ppo.epochs):
            obj = meta_objective(self.adaptation, rollouts, cfg.inner_objective, not cfg.first_order, inner_kl=promp)
            losses = ppo_losses(clip_cfg, obj.log_prob, last.old_log_prob, last.advantages, zeros, zeros, zeros, zeros,
                                weights)  # fmt: skip
            penalty = sum((c * kl for c, kl in zip(self.inner_kl_coeffs, obj.inner_kls)), 0.0)
            loss = losses.policy + penalty / max(len(obj.inner_kls), 1)
            grad_norm = clip_grad_and_step(self.optimizer, loss, max_norm)
        metrics = {k: v for k, v in losses.metrics().items() if k not in ("losses/value_loss", "losses/entropy")}
        metrics.update({"losses/kl": obj.kl.item(), "losses/grad_norm": grad_norm})
        if promp:
            inner = [kl.item() for kl in obj.inner_kls]
            if cfg.promp.adaptive_inner_kl:
                self.inner_kl_coeffs = [adapt_kl_coeff(c, kl, cfg.promp.target_inner_kl)
                                        for c, kl in zip(self.inner_kl_coeffs, inner)]  # fmt: skip
            metrics.update({"losses/inner_kl": float(np.mean(inner)), "losses/inner_kl_coeff": float(np.mean(self.inner_kl_coeffs))})
        return metrics

    # ----- checkpointing ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Meta-parameters (Meta-SGD rates and encoders included), optimiser, RNG streams, counters."""
        return {
            "adaptation": self.adaptation.state_dict(),
            "optimizer": None if self.optimizer is None else self.optimizer.state_dict(),
            "generators": {"learner": self.generator.get_state(), "agent": self.agent.generator.get_state()},
            "inner_kl_coeffs": list(self.inner_kl_coeffs),
            "env_steps": self.env_steps,
            "iterations": self.iterations,
            "episode_returns": self.episode_returns[-1000:],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict`` output."""
        self.adaptation.load_state_dict(state["adaptation"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.generator.set_state(state["generators"]["learner"])
        self.agent.generator.set_state(state["generators"]["agent"])
        self.inner_kl_coeffs = list(state["inner_kl_coeffs"])
        self.env_steps, self.iterations = state["env_steps"], state["iterations"]
        self.episode_returns = list(state["episode_returns"])


def adapt_kl_coeff(coeff: float, kl: float, target: float) -> float:
    """ProMP's adaptive penalty: halve below ``target / 1.5``, double above ``target * 1.5``."""
    if kl < target / 1.5:
        return coeff / 2
    if kl > target * 1.5:
        return coeff * 2
    return coeff


# ----- meta-test: the adaptation interface --------------------------------------------------------
@dataclass
class AdaptationState:
    """Meta-test state of ``n`` tasks: fast parameters and the steps gathered since the last update."""

    fast: FastParams
    steps: list[dict[str, Tensor]] = field(default_factory=list)
    pending: dict[str, Tensor] = field(default_factory=dict)
    time: Tensor | None = None
    episodes: int = 0
    updates: int = 0


class GradientMetaAgent:
    """A meta-trained ``Adaptation`` behind the adaptation interface.

    Actions are sampled from the adapted policy (the inner step needs on-policy samples, and the
    MAML/ProMP/CAVIA papers report sampled returns); with ``deterministic_after_adaptation`` the
    episodes after the last inner step take the mean action when the evaluator asks for
    deterministic actions. ``end_episode`` takes an inner step after every ``inner_episodes``
    episodes, on those episodes, until ``test_inner_steps`` steps were taken.
    """

    def __init__(self, adaptation: nn.Module, cfg: GradientMetaConfig, device: torch.device, seed: int, name: str) -> None:
        self.adaptation, self.cfg, self.device, self.name = adaptation, cfg, device, name
        self.generator = torch.Generator(device).manual_seed(seed)

    @property
    def adaptation_episodes(self) -> int:
        """Episodes per inner step (``inner_episodes``): the evaluator records it so that figures
        mark the steps after episodes ``K, 2K, ...`` (see ``metarl.common.protocol``)."""
        return self.cfg.inner_episodes

    @property
    def adaptation_updates(self) -> int:
        """The inner steps taken per trial at meta-test (``test_inner_steps``); later episodes
        use the last adapted parameters, so no marker belongs after them."""
        return self.cfg.meta_test_steps

    def begin_task(self, n_tasks: int) -> AdaptationState:
        """The meta-learned initial fast parameters for every task."""
        with torch.no_grad():
            fast = detached(self.adaptation.initial(n_tasks))
        return AdaptationState(fast, time=torch.zeros(n_tasks, dtype=torch.long, device=self.device))

    @torch.no_grad()
    def act(self, obs: Tensor, state: AdaptationState, deterministic: bool) -> tuple[Tensor, AdaptationState]:
        """Each task's action from its current fast parameters."""
        policy = self.adaptation.policy
        params, context = self.adaptation.policy_inputs(state.fast)
        obs = obs.to(self.device, torch.float32)
        out = task_outputs(policy, params, obs[:, None], context)
        dist = task_distribution(policy, params, out)
        adapted = state.updates >= self.cfg.meta_test_steps
        if deterministic and adapted and self.cfg.deterministic_after_adaptation:
            action = policy.head.mode(dist)
        else:
            action = policy.head.sample(dist, self.generator)
        state.pending = {"obs": obs, "actions": action[:, 0], "old_out": out[:, 0], "old_log_prob": dist.log_prob(action)[:, 0]}
        return policy.head.to_env_action(action[:, 0]), state

    @torch.no_grad()
    def observe(self, state: AdaptationState, transition: Transition) -> AdaptationState:
        """Store the step for the next inner update (invalid rows are masked out)."""
        valid = transition.valid.to(self.device)
        state.steps.append({
            **state.pending,
            "env_actions": transition.action.to(self.device),
            "rewards": transition.reward.to(self.device, torch.float32),
            "next_obs": transition.next_obs.to(self.device, torch.float32),
            "dones": transition.done.to(self.device) & valid,
            "mask": valid,
            "time": state.time.clone(),
        })  # fmt: skip
        state.time = state.time + valid.long()
        if state.updates >= self.cfg.meta_test_steps:
            state.steps.clear()  # no inner step will read them
        return state

    def end_episode(self, state: AdaptationState) -> AdaptationState:
        """After every ``inner_episodes`` episodes: an inner step on them (while steps remain)."""
        state.episodes += 1
        state.time = torch.zeros_like(state.time)
        if state.episodes < self.cfg.inner_episodes:
            return state
        if state.updates < self.cfg.meta_test_steps:
            cfg = self.cfg
            log_std = state.fast.get("head.log_std")
            rollout = stack_steps(state.steps, log_std)
            rollout.advantages = compute_advantages(rollout, cfg.gamma, cfg.gae_lambda, cfg.baseline_reg)
            fast = inner_update(self.adaptation, state.fast, rollout, cfg.inner_objective, create_graph=False,
                                first=state.updates == 0)  # fmt: skip
            state.fast, state.updates = detached(fast), state.updates + 1
        state.steps, state.episodes = [], 0
        return state


# ----- construction -------------------------------------------------------------------------------
def make_env(run: RunConfig, cfg: GradientMetaConfig, device: torch.device) -> Any:
    """The training env: ``meta_batch * inner_episodes`` sub-envs of ``run.env``, autoreset disabled."""
    env = make_training_env(run, cfg.meta_batch * cfg.inner_episodes, device, autoreset_mode="disabled")
    if env.max_episode_steps is None:
        raise ValueError(f"{run.env.id} has no time limit; gradient-based meta-RL needs episodes of bounded length")
    return env


def make_policy(env: Any, cfg: GradientMetaConfig, context_dim: int = 0, context_mode: str = "concat") -> MetaPolicy:
    """The policy for ``env``'s spaces, shaped by ``cfg``."""
    obs_dim = int(np.prod(env.single_observation_space.shape))
    return MetaPolicy(obs_dim, env.single_action_space, tuple(cfg.hidden_sizes), cfg.activation, cfg.init_log_std,
                      context_dim, context_mode)  # fmt: skip

