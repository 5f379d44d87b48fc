"""Gradient-based meta-RL: MAML (with ProMP's and Meta-SGD's variants) and CAVIA, on one
implementation of the batched inner loop, the meta-objective and its outer optimisers, the
trainer and the agent.

Every task of a meta-batch has its own *fast parameters* (a dict of tensors with a leading task
dim ``n``): MAML's are a copy of all policy weights (``maml``), CAVIA's a context vector fed to a
shared network (``cavia``). An ``Adaptation`` module says which: it owns every meta-parameter
(the policy and, e.g., Meta-SGD's learning rates or a latent encoder), gives the fast parameters
of fresh tasks (``initial``) and applies one gradient step to them (``step``).

- **Batched policy** (``networks``). ``task_outputs`` evaluates the policy with per-task
  parameters for all tasks at once: ``torch.func.vmap`` over ``torch.func.functional_call`` of
  one ``MetaPolicy`` module. Shared parameters enter as views expanded along the task dim.
- **Inner step for all tasks at once** (``inner``). The per-task inner losses are summed and
  differentiated with respect to the batched fast parameters: task ``i``'s loss depends only on
  row ``i``, so one ``torch.autograd.grad`` call yields every task's own gradient, with
  ``create_graph=True`` for exact second-order meta-gradients (``first_order`` detaches them
  instead: FOMAML). No Python loop over tasks; ``tests/test_gradient_meta.py`` checks the result
  against a per-task loop and finite differences.
- **Advantages** (``rollout``). Per task: a linear feature baseline (Duan et al. 2016) fitted by
  ridge regression on the task's own discounted returns, GAE (``gae_lambda`` 1 by default, as
  pytorch-maml-rl and ProMP), and advantages normalised over the task's valid steps.
- **Inner objectives.** ``reinforce``: ``-mean(log pi(a|s) A)`` (MAML / pytorch-maml-rl);
  ``lvc``: ProMP's low-variance curvature objective ``-mean(pi(a|s) / stop_grad(pi_old(a|s)) A)``,
  the same gradient at the sampling policy but a Hessian whose estimate has lower variance; it
  is also the importance-weighted objective used when the fast parameters differ from the
  sampling ones (CAVIA's encoder proposal).
- **Outer optimisers** (``outer``) of the post-adaptation surrogate (ratio of the adapted policy
  to the one that sampled the post-adaptation episodes): ``trpo`` (conjugate gradient on the
  Fisher-vector product of the KL of the adapted policies, differentiated through the inner
  step, and a backtracking line search, as pytorch-maml-rl's MAML-TRPO), ``ppo`` (clipped
  surrogate, several Adam epochs, the adaptation recomputed each epoch) and ``promp`` (``ppo``
  plus ProMP's penalty on the KL between the pre-update policy and the one that sampled the
  pre-update episodes; LVC inner objective by default).

Training (``learner.GradientMetaLearner``): per iteration, ``meta_batch`` tasks drawn from the
family's distribution; per task ``inner_episodes`` episodes in parallel sub-envs with the task's
current fast parameters, an inner step, again, ``num_inner_steps`` times, then the
post-adaptation episodes and the outer update. Meta-test (``agent.GradientMetaAgent``, the
adaptation interface): ``end_episode`` takes an inner step each time ``inner_episodes`` episodes
of the tasks have been gathered through ``observe``, up to ``test_inner_steps`` steps, so an
evaluation of ``inner_episodes * (test_inner_steps + 1)`` episodes shows the returns before and
after each step (``metarl.runner.evaluation.run_adaptation``'s episode ``k`` is the
``((k-1) mod K)+1``-th episode after ``(k-1) // K`` inner steps).

Modules: ``config`` (the shared configuration), ``networks`` (the policy and its per-task
evaluation), ``rollout`` (episodes and advantages), ``inner`` (the ``Adaptation`` interface and
the inner step), ``outer`` (the meta-objective and meta-updates), ``agent`` (meta-test),
``learner`` (sampling and training), ``maml`` and ``cavia`` (the two algorithms' configs,
adaptations and trainer factories).
"""

from metarl.agents.gradient.agent import AdaptationState, GradientMetaAgent
from metarl.agents.gradient.cavia import CAVIAConfig, ContextAdaptation, TransitionEncoder, make_cavia_trainer
from metarl.agents.gradient.config import GradientMetaConfig, OuterPPOConfig, ProMPConfig
from metarl.agents.gradient.inner import Adaptation
from metarl.agents.gradient.learner import GradientMetaLearner
from metarl.agents.gradient.maml import MAMLAdaptation, MAMLConfig, make_maml_trainer
from metarl.agents.gradient.networks import MetaPolicy
from metarl.agents.gradient.rollout import InnerRollout

__all__ = [
    "Adaptation",
    "AdaptationState",
    "CAVIAConfig",
    "ContextAdaptation",
    "GradientMetaAgent",
    "GradientMetaConfig",
    "GradientMetaLearner",
    "MAMLAdaptation",
    "MAMLConfig",
    "MetaPolicy",
    "OuterPPOConfig",
    "ProMPConfig",
    "InnerRollout",
    "TransitionEncoder",
    "make_cavia_trainer",
    "make_maml_trainer",
]
