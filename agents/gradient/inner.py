"""The inner loop: which parameters a method adapts (the ``Adaptation`` interface) and one
gradient step on them for every task of a meta-batch at once.

The per-task inner losses are summed and differentiated with respect to the batched fast
parameters: task ``i``'s loss depends only on row ``i``, so one ``torch.autograd.grad`` call
yields every task's own gradient, with ``create_graph=True`` for exact second-order
meta-gradients (``first_order`` detaches them instead: FOMAML). Inner objectives: ``reinforce``
``-mean(log pi(a|s) A)`` (MAML / pytorch-maml-rl) and ``lvc``, ProMP's low-variance curvature
objective ``-mean(pi(a|s) / stop_grad(pi_old(a|s)) A)``: the same gradient at the sampling
policy but a Hessian whose estimate has lower variance; it is also the importance-weighted
objective used when the fast parameters differ from the sampling ones (CAVIA's encoder proposal).
"""

from __future__ import annotations

from typing import Protocol

import torch
from metarl.agents.gradient.networks import FastParams, MetaPolicy, task_distribution, task_outputs
from metarl.agents.gradient.rollout import InnerRollout, per_task_mean
from torch import Tensor
from torch.distributions import Distribution


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

    def propose(self, fast: FastParams, rollout: InnerRollout) -> FastParams:
        """Fast parameters before the first inner step, given its episodes (e.g. an encoder's guess)."""
        ...

    def step(self, fast: FastParams, grads: FastParams) -> FastParams:
        """One inner gradient step."""
        ...


def policy_log_prob(adaptation: Adaptation, fast: FastParams, rollout: InnerRollout) -> tuple[Tensor, Distribution]:
    """Log-probabilities ``(T, n, R)`` of the rollout's actions under the fast parameters, and the
    distribution (task-major batch shape ``(n, T * R)``)."""
    params, context = adaptation.policy_inputs(fast)
    out = task_outputs(adaptation.policy, params, rollout.task_major(rollout.obs), context)
    dist = task_distribution(adaptation.policy, params, out)
    return rollout.time_major(dist.log_prob(rollout.task_major(rollout.actions))), dist


def inner_losses(kind: str, log_prob: Tensor, rollout: InnerRollout) -> Tensor:
    """Per-task inner losses ``(n,)``: ``reinforce`` ``-mean(log pi A)`` or ``lvc``
    ``-mean(pi / pi_old A)`` (ProMP's low-variance curvature objective)."""
    if kind == "reinforce":
        weighted = log_prob * rollout.advantages
    elif kind == "lvc":
        weighted = torch.exp(log_prob - rollout.old_log_prob) * rollout.advantages
    else:
        raise ValueError(f"inner loss {kind!r} is unknown; allowed: 'reinforce', 'lvc'")
    return -per_task_mean(weighted, rollout.mask)


def inner_update(adaptation: Adaptation, fast: FastParams, rollout: InnerRollout, kind: str, create_graph: bool,
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


def adapt(adaptation: Adaptation, rollouts: list[InnerRollout], kind: str, create_graph: bool) -> list[FastParams]:
    """Fast parameters before each rollout: ``[initial, after step 1, ..., after step len(rollouts)]``."""
    fast = [adaptation.initial(rollouts[0].num_tasks)]
    for k, rollout in enumerate(rollouts):
        fast.append(inner_update(adaptation, fast[-1], rollout, kind, create_graph, first=k == 0))
    return fast


def detached(fast: FastParams) -> FastParams:
    """``fast`` cut from the meta-parameters' graph."""
    return {k: v.detach() for k, v in fast.items()}
