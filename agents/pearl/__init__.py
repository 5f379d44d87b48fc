"""PEARL: probabilistic latent context encoder + SAC (Rakelly et al., 2019).

"Efficient Off-Policy Meta-Reinforcement Learning via Probabilistic Context Variables", following
the reference implementation (katerakelly/oyster) in every algorithmic detail:

- context: transitions ``(s, a, r)`` (``+ s'`` with ``use_next_obs_in_context``); a
  permutation-invariant encoder maps each to a Gaussian factor ``N(mu_i, sigma_i^2)``; the posterior
  ``q(z | c)`` is their product; ``kl_lambda * KL(q(z|c) || N(0, I))`` regularises it;
- SAC with twin Q-functions and a state-value function with a target copy, all conditioned on z;
  fixed entropy weight 1 with ``reward_scale``; policy mean/log-std L2 regularisers;
- the encoder is trained through the Q loss (policy and value function see ``z.detach()``);
- the encoder's context is sampled from recently collected data: its buffer for a task is emptied
  before each collection on that task, and only prior (and posterior) steps enter it, not the
  extra posterior steps used for RL alone;
- meta-test posterior sampling: the first episode (``exploration_episodes``) acts with z from the
  prior, each later episode with z sampled from the posterior of all context gathered so far.

Everything is batched over tasks on the configured device: data collection steps all sampled
tasks' sub-envs together, and an update processes the whole meta-batch of tasks at once.
Policies act in [-1, 1]^d; actions are rescaled to the env's bounds (as oyster's NormalizedBoxEnv).

Modules: ``config`` (hyperparameters), ``networks`` (encoder, policy, MLPs), ``agent`` (the
adaptation interface), ``learner`` (collection, update, checkpoints, ``make_pearl_trainer``).
The replay buffers are ``metarl.common.replay``'s, the twin-Q ensemble ``metarl.common.ensemble``'s.
"""

from metarl.agents.pearl.agent import PEARLAgent, PEARLState
from metarl.agents.pearl.config import PEARLConfig
from metarl.agents.pearl.learner import PEARLLearner, make_pearl_trainer
from metarl.agents.pearl.networks import ContextEncoder, TanhGaussianPolicy

__all__ = [
    "ContextEncoder",
    "PEARLAgent",
    "PEARLConfig",
    "PEARLLearner",
    "PEARLState",
    "TanhGaussianPolicy",
    "make_pearl_trainer",
]
