"""MAML for RL (Finn et al., 2017), with ProMP (Rothfuss et al., 2019) and Meta-SGD (Li et al., 2017).

The inner loop adapts every weight of the policy (its log standard deviation included, as
pytorch-maml-rl) by ``num_inner_steps`` policy-gradient steps, for all tasks of a meta-batch at
once; the outer loop differentiates the post-adaptation surrogate through those steps (exact
second-order meta-gradients unless ``first_order``) and optimises it with:

- ``outer: trpo`` — MAML-TRPO as in pytorch-maml-rl (trust region on the KL of the adapted
  policies, conjugate gradient, backtracking line search), REINFORCE inner loss;
- ``outer: ppo`` — the clipped surrogate with Adam, REINFORCE inner loss;
- ``outer: promp`` — ProMP: the clipped surrogate plus a penalty on the KL between the
  pre-update policy and the one that sampled the pre-update episodes, with the low-variance
  curvature (LVC) inner objective.

``meta_sgd: true`` learns the inner learning rates too: one rate per weight, tensors shaped like
the parameters, initialised to ``inner_lr`` (as ProMP's trainable step sizes) and trained by the
outer loop with the weights; they are part of the checkpoint (``adaptation.inner_lrs.<i>``).

The shared machinery (batched rollouts, baseline, inner step, outer optimisers, trainer and
meta-test agent) is the rest of ``metarl.agents.gradient``; see the package docstring for the
meta-test protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
from metarl.agents.gradient.config import GradientMetaConfig
from metarl.agents.gradient.learner import GradientMetaLearner, make_env
from metarl.agents.gradient.networks import FastParams, MetaPolicy, expand_params, make_policy
from metarl.agents.gradient.rollout import InnerRollout
from torch import Tensor

from metarl.common.config import RunConfig


@dataclass
class MAMLConfig(GradientMetaConfig):
    """MAML's hyperparameters: the shared ones (``GradientMetaConfig``) and Meta-SGD's switch."""

    meta_sgd: bool = False


class MAMLAdaptation(nn.Module):
    """Fast parameters = a per-task copy of every policy weight; one gradient step with the
    scalar ``inner_lr`` or, with ``meta_sgd``, the learned per-weight rates ``inner_lrs``."""

    def __init__(self, policy: MetaPolicy, inner_lr: float, meta_sgd: bool) -> None:
        super().__init__()
        self.policy = policy
        self.inner_lr = inner_lr
        self.names = [name for name, _ in policy.named_parameters()]
        self.inner_lrs = (
            nn.ParameterList(nn.Parameter(torch.full_like(p, inner_lr)) for p in policy.parameters()) if meta_sgd else None
        )

    def initial(self, n: int) -> FastParams:
        """The meta-learned weights, viewed once per task."""
        return expand_params(dict(self.policy.named_parameters()), n)

    def policy_inputs(self, fast: FastParams) -> tuple[FastParams, None]:
        """The fast parameters are the policy's parameters; no context."""
        return fast, None

    def propose(self, fast: FastParams, rollout: InnerRollout) -> FastParams:
        """MAML starts its inner steps from the meta-learned weights."""
        return fast

    def step(self, fast: FastParams, grads: FastParams) -> FastParams:
        """``theta_i - alpha * g_i`` (``alpha`` a scalar or Meta-SGD's tensor per weight)."""
        rates = self.learning_rates()
        return {name: fast[name] - rates[name] * grads[name] for name in self.names}

    def learning_rates(self) -> dict[str, Tensor | float]:
        """The inner learning rate of every weight, by parameter name."""
        if self.inner_lrs is None:
            return {name: self.inner_lr for name in self.names}
        return dict(zip(self.names, self.inner_lrs))


def make_maml_trainer(cfg: RunConfig, device: torch.device) -> GradientMetaLearner:
    """MAML on ``cfg.env``: ``meta_batch * inner_episodes`` sub-envs collected together."""
    maml: MAMLConfig = cfg.agent_config
    env = make_env(cfg, maml, device)
    adaptation = MAMLAdaptation(make_policy(env, maml), maml.inner_lr, maml.meta_sgd)
    name = "meta-sgd" if maml.meta_sgd else ("promp" if maml.outer == "promp" else "maml")
    return GradientMetaLearner(maml, env, adaptation, device, cfg.seed, name)
