"""On-policy building blocks shared by every policy-gradient agent (RL^2, VariBAD, MAML, CAVIA, the oracle).

One implementation each of: the action distribution of a gymnasium space, the trial input
``(obs, previous action, previous reward, done flag)`` that recurrent meta-learners read,
generalized advantage estimation over time-major batches, the clipped PPO objective, the
minibatch split that keeps each sub-env's sequence whole for recurrent networks, the linear
feature baseline fitted per group (task) and the TRPO step (conjugate gradient on
Fisher-vector products, line search). All functions work on batched tensors on any device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn as nn
from gymnasium import spaces
from torch import Tensor
from torch.distributions import Categorical, Distribution, Independent, Normal

from metarl.common.checks import check
from metarl.core.spaces import action_dim, check_action_space


# ----- actions -------------------------------------------------------------------------------------
def encode_action(action: Tensor, space: spaces.Space) -> Tensor:
    """Actions ``(..., )`` int or ``(..., d)`` float as float features ``(..., action_dim(space))``."""
    if isinstance(space, spaces.Discrete):
        return nn.functional.one_hot((action - int(space.start)).long(), int(space.n)).float()
    return action.float()


class ActionHead(nn.Module):
    """Maps features to the policy's distribution over one sub-env's action space.

    ``Discrete``: categorical logits. ``Box``: a diagonal Gaussian with a state-independent,
    learned log standard deviation (the PPO / MAML convention); samples are unbounded and
    ``to_env_action`` clips them to the space (the clipped action is what the env sees, the
    unclipped one is what the log-probability is of).
    """

    def __init__(self, features: int, space: spaces.Space, init_log_std: float = 0.0, gain: float = 0.01) -> None:
        super().__init__()
        check_action_space(space)
        self.space = space
        self.discrete = isinstance(space, spaces.Discrete)
        self.linear = nn.Linear(features, action_dim(space))
        nn.init.orthogonal_(self.linear.weight, gain)
        nn.init.zeros_(self.linear.bias)
        if not self.discrete:
            self.log_std = nn.Parameter(torch.full((action_dim(space),), float(init_log_std)))
            self.register_buffer("low", torch.as_tensor(space.low, dtype=torch.float32))
            self.register_buffer("high", torch.as_tensor(space.high, dtype=torch.float32))

    def forward(self, features: Tensor) -> Distribution:
        """The action distribution for ``features`` ``(..., features)``."""
        return self.distribution(self.linear(features))

    def distribution(self, out: Tensor, log_std: Tensor | None = None) -> Distribution:
        """The distribution of the linear layer's output ``out`` ``(..., action_dim)``.

        ``log_std`` (Box only, broadcastable to ``out``) replaces the head's own, for policies
        evaluated with other parameters than the module's (e.g. per-task adapted parameters of
        gradient-based meta-learners, whose inner loop adapts the standard deviation too).
        """
        if self.discrete:
            return Categorical(logits=out)
        log_std = self.log_std if log_std is None else log_std
        return Independent(Normal(out, log_std.exp().expand_as(out)), 1)

    def mode(self, dist: Distribution) -> Tensor:
        """The most likely action (argmax arm, Gaussian mean)."""
        return dist.probs.argmax(-1) if self.discrete else dist.mean

    def sample(self, dist: Distribution, generator: torch.Generator | None = None) -> Tensor:
        """A draw from ``dist`` (as ``dist.sample()``) taken from ``generator``, so that a
        checkpointed generator makes the actions reproducible (``Distribution.sample`` only uses
        torch's global generator). Categorical: inverse CDF of one uniform per row."""
        if self.discrete:
            probs = dist.probs
            u = torch.rand(probs.shape[:-1] + (1,), generator=generator, device=probs.device, dtype=probs.dtype)
            return (probs.cumsum(-1) < u).sum(-1).clamp(max=probs.shape[-1] - 1)
        base = dist.base_dist
        noise = torch.randn(base.loc.shape, generator=generator, device=base.loc.device, dtype=base.loc.dtype)
        return base.loc + base.scale * noise

    def to_env_action(self, action: Tensor) -> Tensor:
        """What the env is given: the arm index offset by ``start``, or the Gaussian sample clipped."""
        if self.discrete:
            return action + int(self.space.start)
        return torch.maximum(torch.minimum(action, self.high), self.low)


def trial_input(obs: Tensor, prev_action: Tensor, prev_reward: Tensor, prev_done: Tensor, space: spaces.Space) -> Tensor:
    """RL^2's per-step input: ``[obs, encode_action(prev_action), prev_reward, prev_done]``.

    ``prev_*`` describe the step that led to ``obs`` (zeros at the start of a trial);
    ``prev_done`` is 1 when that step ended an episode, so the network sees episode boundaries.
    """
    return torch.cat(
        [obs.flatten(1).float(), encode_action(prev_action, space), prev_reward.float()[:, None], prev_done.float()[:, None]],
        dim=-1,
    )


def trial_input_dim(obs_space: spaces.Space, space: spaces.Space) -> int:
    """Width of ``trial_input`` for one sub-env."""
    return int(torch.Size(obs_space.shape).numel()) + action_dim(space) + 2


# ----- advantages ----------------------------------------------------------------------------------
def gae(
    rewards: Tensor,
    values: Tensor,
    dones: Tensor,
    last_value: Tensor,
    gamma: float,
    lam: float,
    timeouts: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Generalized advantage estimates and value targets for time-major ``(T, N)`` rollouts.

    ``dones[t]`` is 1 when step ``t`` ended the sequence the value function is defined over (no
    bootstrap past it); ``last_value`` ``(N,)`` bootstraps the step after ``T - 1``. Returns
    ``(advantages, returns)`` with ``returns = advantages + values``.

    ``timeouts[t]`` (optional) is 1 when step ``t`` ended an episode by its time limit: that
    step's advantage is zero (its value target is the prediction itself) and the estimate of the
    steps before it starts afresh there, as ``use_proper_time_limits`` in ikostrikov's
    pytorch-a2c-ppo-acktr, which VariBAD uses.
    """
    T = rewards.shape[0]
    advantages = torch.zeros_like(rewards)
    next_value, running = last_value, torch.zeros_like(last_value)
    for t in reversed(range(T)):
        keep = 1.0 - dones[t].float()
        delta = rewards[t] + gamma * next_value * keep - values[t]
        running = delta + gamma * lam * keep * running
        if timeouts is not None:
            running = running * (1.0 - timeouts[t].float())
        advantages[t] = running
        next_value = values[t]
    return advantages, advantages + values


def discounted_returns(rewards: Tensor, dones: Tensor, gamma: float) -> Tensor:
    """Reward-to-go ``sum_k gamma^k r_{t+k}`` within each sequence of time-major ``(T, N)`` rewards."""
    out = torch.zeros_like(rewards)
    running = torch.zeros_like(rewards[0])
    for t in reversed(range(rewards.shape[0])):
        running = rewards[t] + gamma * (1.0 - dones[t].float()) * running
        out[t] = running
    return out


def normalize(x: Tensor, mask: Tensor | None = None, eps: float = 1e-8, dim: int | tuple[int, ...] | None = None) -> Tensor:
    """``x`` shifted and scaled to zero mean, unit variance (over the entries where ``mask`` is True).

    With ``dim``, each slice along the other dimensions is normalized on its own over ``dim``
    (e.g. ``dim=(0, 2)`` of a ``(T, tasks, episodes)`` tensor normalizes per task), with the
    population variance of its masked entries.
    """
    if dim is not None:
        m = torch.ones_like(x) if mask is None else mask.to(x.dtype)
        count = m.sum(dim, keepdim=True).clamp(min=1.0)
        mean = (x * m).sum(dim, keepdim=True) / count
        var = ((x - mean).square() * m).sum(dim, keepdim=True) / count
        return (x - mean) / (var.sqrt() + eps)
    if mask is None:
        return (x - x.mean()) / (x.std() + eps)
    m = mask.float()
    count = m.sum().clamp(min=1.0)
    mean = (x * m).sum() / count
    var = ((x - mean).square() * m).sum() / count
    return (x - mean) / (var.sqrt() + eps)


class RunningMeanStd:
    """Running mean and variance of a stream of batches (Chan et al.'s parallel update), in float64.

    PPO's reward scaling divides rewards by the standard deviation of the discounted return
    (gymnasium's ``NormalizeReward``, VariBAD's ``norm_rew_for_policy``): ``update`` with the
    returns, then ``rewards / rms.std()``.
    """

    def __init__(self, shape: tuple[int, ...] = (), device: torch.device | str = "cpu", epsilon: float = 1e-4) -> None:
        self.mean = torch.zeros(shape, dtype=torch.float64, device=device)
        self.var = torch.ones(shape, dtype=torch.float64, device=device)
        self.count = float(epsilon)  # a tiny prior count keeps the first update well defined

    def update(self, x: Tensor) -> None:
        """Fold in the batch ``x`` ``(B, *shape)``."""
        x = x.detach().to(self.mean.device, torch.float64)
        batch_mean, batch_var, batch_count = x.mean(0), x.var(0, unbiased=False), x.shape[0]
        total = self.count + batch_count
        delta = batch_mean - self.mean
        self.mean = self.mean + delta * batch_count / total
        m2 = self.var * self.count + batch_var * batch_count + delta.square() * self.count * batch_count / total
        self.var, self.count = m2 / total, total

    def std(self, eps: float = 1e-8) -> Tensor:
        """``sqrt(var + eps)``."""
        return (self.var + eps).sqrt()

    def state_dict(self) -> dict[str, Any]:
        """Mean, variance and count (for checkpoints)."""
        return {"mean": self.mean.clone(), "var": self.var.clone(), "count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict`` output."""
        self.mean = state["mean"].to(self.mean.device)
        self.var = state["var"].to(self.var.device)
        self.count = float(state["count"])


# ----- PPO -----------------------------------------------------------------------------------------
@dataclass
class PPOConfig:
    """PPO hyperparameters (defaults: Schulman et al. 2017 / CleanRL)."""

    lr: float = 3e-4
    epochs: int = 4
    num_minibatches: int = 4
    clip: float = 0.2
    value_clip: float | None = None
    value_loss: Literal["mse", "huber"] = "mse"  # huber: smooth L1 (ikostrikov / VariBAD ppo_use_huberloss)
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    max_grad_norm: float = 0.5
    gamma: float = 0.99
    gae_lambda: float = 0.95
    normalize_advantages: bool = True

    def __post_init__(self) -> None:
        for name in ("lr", "epochs", "num_minibatches", "clip", "max_grad_norm"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        for name in ("value_coef", "entropy_coef"):
            check(getattr(self, name) >= 0, name, getattr(self, name), ">= 0")
        check(self.value_clip is None or self.value_clip > 0, "value_clip", self.value_clip, "null or > 0")
        check(self.value_loss in ("mse", "huber"), "value_loss", self.value_loss, "'mse' or 'huber'")
        check(0 <= self.gamma <= 1, "gamma", self.gamma, "[0, 1]")
        check(0 <= self.gae_lambda <= 1, "gae_lambda", self.gae_lambda, "[0, 1]")


@dataclass(frozen=True)
class PPOLosses:
    """The terms of the PPO objective for one minibatch, and diagnostics."""

    policy: Tensor
    value: Tensor
    entropy: Tensor
    approx_kl: Tensor
    clip_fraction: Tensor

    def total(self, cfg: PPOConfig) -> Tensor:
        """``policy + value_coef * value - entropy_coef * entropy``."""
        return self.policy + cfg.value_coef * self.value - cfg.entropy_coef * self.entropy

    def metrics(self) -> dict[str, float]:
        """TensorBoard scalars (``losses/*``)."""
        return {
            "losses/policy_loss": self.policy.item(),
            "losses/value_loss": self.value.item(),
            "losses/entropy": self.entropy.item(),
            "losses/approx_kl": self.approx_kl.item(),
            "losses/clip_fraction": self.clip_fraction.item(),
        }


def ppo_losses(
    cfg: PPOConfig,
    log_prob: Tensor,
    old_log_prob: Tensor,
    advantages: Tensor,
    entropy: Tensor,
    value: Tensor,
    old_value: Tensor,
    returns: Tensor,
    mask: Tensor | None = None,
) -> PPOLosses:
    """The clipped surrogate, the (optionally clipped) value loss and the entropy, averaged over
    the entries where ``mask`` is True (all when None). Advantages are used as given.

    ``mask`` may also hold non-negative float weights: the averages are then weighted means
    (e.g. weights ``1 / steps of the entry's task`` give the mean over tasks of per-task means).
    The value loss is half the mean squared error (``cfg.value_loss="huber"``: half the mean
    smooth-L1 error), each entry the larger of the plain and the clipped error when ``value_clip``.
    """
    m = torch.ones_like(log_prob) if mask is None else mask.float()
    count = m.sum().clamp(min=1.0)

    def mean(x: Tensor) -> Tensor:
        return (x * m).sum() / count

    log_ratio = log_prob - old_log_prob
    ratio = log_ratio.exp()
    surrogate = torch.min(ratio * advantages, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * advantages)
    error = value_error(value, returns, cfg.value_loss)
    if cfg.value_clip is not None:
        clipped = old_value + (value - old_value).clamp(-cfg.value_clip, cfg.value_clip)
        error = torch.max(error, value_error(clipped, returns, cfg.value_loss))
    with torch.no_grad():
        approx_kl = mean((ratio - 1) - log_ratio)  # the low-variance k3 estimator
        clip_fraction = mean(((ratio - 1).abs() > cfg.clip).float())
    return PPOLosses(-mean(surrogate), 0.5 * mean(error), mean(entropy), approx_kl, clip_fraction)


def value_error(value: Tensor, returns: Tensor, kind: str) -> Tensor:
    """Per-entry squared error, or smooth L1 (Huber with threshold 1) for ``kind="huber"``."""
    if kind == "huber":
        return nn.functional.smooth_l1_loss(value, returns, reduction="none")
    return (value - returns).square()


def minibatch_indices(n: int, num_minibatches: int, generator: torch.Generator | None = None, device: torch.device | str = "cpu") -> list[Tensor]:
    """A random split of ``range(n)`` into ``min(num_minibatches, n)`` near-equal index tensors.

    Recurrent agents split the sub-env axis with it, so every minibatch holds whole sequences.
    """
    perm = torch.randperm(n, generator=generator, device=device)
    return list(perm.tensor_split(min(num_minibatches, n)))


def clip_grad_and_step(optimizer: torch.optim.Optimizer, loss: Tensor, max_grad_norm: float) -> float:
    """Backpropagate ``loss``, clip the gradient norm of the optimizer's parameters, step; returns the norm."""
    optimizer.zero_grad()
    loss.backward()
    params = [p for group in optimizer.param_groups for p in group["params"]]
    norm = nn.utils.clip_grad_norm_(params, max_grad_norm)
    optimizer.step()
    return float(norm)


# ----- linear feature baseline -------------------------------------------------------------------
def linear_baseline_features(obs: Tensor, time: Tensor) -> Tensor:
    """Duan et al. (2016)'s baseline features ``[o, o^2, t, t^2, t^3, 1]`` with ``t = step / 100``
    and observations clipped to [-10, 10] (as rllab / ProMP); ``obs`` ``(..., d)``, ``time`` ``(...)``
    the step index within the episode. Returns ``(..., 2 d + 4)`` in float64."""
    o = obs.flatten(time.ndim).double().clamp(-10.0, 10.0)
    t = (time.double() / 100.0)[..., None]
    return torch.cat([o, o.square(), t, t.square(), t**3, torch.ones_like(t)], dim=-1)


def fit_linear_baseline(features: Tensor, targets: Tensor, mask: Tensor, reg_coeff: float = 1e-5) -> Tensor:
    """Per-group ridge regressions of ``targets`` on ``features``, evaluated on every entry.

    ``features`` ``(G, M, F)``, ``targets`` and ``mask`` ``(G, M)``: group ``g`` (e.g. a task) is fit
    on its entries where ``mask`` is True by solving ``(X^T X + reg I) w = X^T y``; a group whose
    solution is not finite is solved again with the regularisation multiplied by 10, up to 4 times
    (as rllab's ``LinearFeatureBaseline``). Returns the fitted values ``(G, M)`` in ``targets``' dtype.
    """
    m = mask.to(features.dtype)[..., None]
    x = features * m
    gram = x.transpose(1, 2) @ x
    rhs = x.transpose(1, 2) @ targets.to(features.dtype)[..., None]
    eye = torch.eye(features.shape[-1], dtype=features.dtype, device=features.device)
    reg = torch.full((features.shape[0], 1, 1), float(reg_coeff), dtype=features.dtype, device=features.device)
    for _ in range(5):
        weights, _ = torch.linalg.solve_ex(gram + reg * eye, rhs)
        bad = ~torch.isfinite(weights).all(dim=(1, 2))
        if not bool(bad.any()):
            break
        reg = torch.where(bad[:, None, None], reg * 10.0, reg)
    weights = torch.nan_to_num(weights, nan=0.0, posinf=0.0, neginf=0.0)
    return (features @ weights).squeeze(-1).to(targets.dtype)


# ----- TRPO ----------------------------------------------------------------------------------------
def conjugate_gradient(matvec: Callable[[Tensor], Tensor], b: Tensor, iters: int = 10, residual_tol: float = 1e-10) -> Tensor:
    """Approximate solution of ``A x = b`` for a symmetric positive definite ``A`` given as
    ``matvec(v) = A v``, by at most ``iters`` conjugate-gradient iterations from ``x = 0``."""
    x = torch.zeros_like(b)
    r, p = b.clone(), b.clone()
    rr = r.dot(r)
    for _ in range(iters):
        if rr.item() < residual_tol:
            break
        ap = matvec(p)
        alpha = rr / p.dot(ap)
        x = x + alpha * p
        r = r - alpha * ap
        rr_new = r.dot(r)
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


@dataclass
class TRPOConfig:
    """Trust-region step (Schulman et al. 2015); defaults are pytorch-maml-rl's MAML-TRPO configs."""

    max_kl: float = 1e-2
    cg_iters: int = 10
    cg_damping: float = 1e-5
    ls_max_steps: int = 15
    ls_backtrack_ratio: float = 0.8

    def __post_init__(self) -> None:
        for name in ("max_kl", "cg_iters", "ls_max_steps"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        check(self.cg_damping >= 0, "cg_damping", self.cg_damping, ">= 0")
        check(0 < self.ls_backtrack_ratio < 1, "ls_backtrack_ratio", self.ls_backtrack_ratio, "(0, 1)")


def trpo_step(
    params: Sequence[nn.Parameter],
    objective: Callable[[bool], tuple[Tensor, Tensor]],
    cfg: TRPOConfig,
) -> dict[str, float]:
    """One TRPO update of ``params`` in place: minimise a surrogate loss under ``KL <= max_kl``.

    ``objective(differentiable)`` returns ``(loss, kl)`` at the current parameters, ``kl`` being
    the mean KL divergence from the data-collecting policy (zero at the starting point). With
    ``differentiable=True`` it must keep the graph for first and second derivatives; the line
    search calls it with ``False``, when only the values are needed. The step direction solves ``(H + damping I) x = g``
    by conjugate gradient, ``H`` the Hessian of ``kl`` (Fisher-vector products by double
    backpropagation), scaled to the trust-region boundary; the line search shrinks it by
    ``ls_backtrack_ratio`` until the loss decreases and the KL is within ``max_kl``, and leaves
    the parameters unchanged if no step qualifies. Returns diagnostics.
    """
    params = list(params)
    loss, kl = objective(True)
    old_loss = loss.item()
    g, step = _trust_region_step(params, loss, kl, cfg)
    del loss, kl  # free the double-backward graph before the line search
    old = nn.utils.parameters_to_vector(params).detach()
    fraction = 1.0
    for tries in range(1, cfg.ls_max_steps + 1):
        nn.utils.vector_to_parameters(old - fraction * step, params)
        new_loss, new_kl = objective(False)
        if new_loss.item() < old_loss and new_kl.item() < cfg.max_kl:
            return {"losses/loss_before": old_loss, "losses/loss_after": new_loss.item(), "losses/kl": new_kl.item(),
                    "losses/line_search_steps": float(tries), "losses/grad_norm": g.norm().item()}  # fmt: skip
        fraction *= cfg.ls_backtrack_ratio
    nn.utils.vector_to_parameters(old, params)
    return {"losses/loss_before": old_loss, "losses/loss_after": old_loss, "losses/kl": 0.0,
            "losses/line_search_steps": float(cfg.ls_max_steps + 1), "losses/grad_norm": g.norm().item()}  # fmt: skip


def _trust_region_step(params: list[nn.Parameter], loss: Tensor, kl: Tensor, cfg: TRPOConfig) -> tuple[Tensor, Tensor]:
    """The loss gradient ``g`` and TRPO's full step ``x / sqrt(x^T H x / (2 max_kl))`` with
    ``(H + damping I) x = g`` solved by conjugate gradient on Fisher-vector products."""
    g = torch.cat([x.reshape(-1) for x in torch.autograd.grad(loss, params, retain_graph=True)]).detach()
    flat_kl_grad = torch.cat([x.reshape(-1) for x in torch.autograd.grad(kl, params, create_graph=True)])

    def fisher_vector(v: Tensor) -> Tensor:
        hv = torch.autograd.grad(flat_kl_grad.dot(v), params, retain_graph=True)
        return torch.cat([x.reshape(-1) for x in hv]).detach() + cfg.cg_damping * v

    direction = conjugate_gradient(fisher_vector, g, cfg.cg_iters)
    shs = 0.5 * direction.dot(fisher_vector(direction))
    return g, direction / torch.sqrt(shs / cfg.max_kl).clamp(min=1e-12)
