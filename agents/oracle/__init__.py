"""The task-conditioned oracle: PPO given the true task parameters, the upper bound of adaptation curves.

A policy that is told the task needs no adaptation, so its return on held-out tasks bounds what
any meta-learner can reach after adapting (the "oracle" of VariBAD, Zintgraf et al. 2020).
``conditioning`` picks how the task enters the policy:

- ``concat``: the task feature vector (every task parameter flattened, in the task space's
  order; scaled to [-1, 1] by the task space's bounds where both are finite, see
  ``TaskFeatures``) is concatenated to the (normalised) observation of the actor and the critic.
- ``hypernetwork``: a hypernetwork maps the task features to the weights and biases of every
  hidden layer of the actor MLP and of the critic MLP (``HyperActorCritic``); the output layers
  (action mean / logits with a state-independent log standard deviation, and the value) are
  ordinary layers shared by all tasks, so the action parametrisation is the same for the three
  conditionings and the task enters only through the generated trunks. The generated layers are
  applied batched, one weight matrix per row (``einsum``), and initialised with the hyperfan-in
  scheme of Chang et al. (2020, "Principled weight initialization for hypernetworks"), so that
  every task starts with a correctly scaled random MLP.
- ``none``: the same PPO policy without task information, the multi-task baseline that cannot
  adapt (a policy that is best on average over the task distribution).

Training is CleanRL-style PPO (Huang et al. 2022, ``ppo_continuous_action.py``) on one batched
env of ``num_envs`` sub-envs on the configured device, all on torch tensors. Every rollout
(training iteration) starts fresh episodes: the sub-envs get new tasks, drawn from the training
distribution (``task_source: distribution``) or uniformly from the fixed training task set
(``train_set``), and are reset with a seed from the trainer's generator; a sub-env whose episode
terminates inside the rollout starts its next episode on the same task. With the default
``num_steps`` (the env's horizon) a rollout is exactly one episode per sub-env, so tasks are
re-drawn every episode. Because each rollout starts from a reset seeded by the trainer's own
generator, a checkpoint between iterations (networks, optimizer, normalisation statistics,
generators, counters) resumes training identically without saving the simulator state.
Time-limit truncations are bootstrapped with the value of the final observation ("proper time
limits"); rewards are scaled by the running standard deviation of the discounted return and
observations by running mean and variance (gymnasium's ``NormalizeReward`` and
``NormalizeObservation``, as CleanRL and VariBAD do). Departures from CleanRL, all for batching
over tasks: episodes restart at every rollout (so ``num_steps`` should be a multiple of the
horizon; otherwise the unfinished episodes are cut and bootstrapped), truncations are
bootstrapped, and each minibatch holds an equal random share of every sub-env's steps
(``stratified_minibatches``) so per-task parameters are generated once per minibatch.

Continuous actions: the policy acts in [-1, 1]^d (a Gaussian with a state-independent log
standard deviation, clipped), rescaled to the env's action bounds, so ``init_log_std`` means the
same thing on every family. At evaluation, ``OracleAgent`` learns the tasks of the evaluation
sub-envs through the ``TaskAware`` hook (``set_tasks``, called by ``run_adaptation`` before
``begin_task``); the ``none`` baseline is a ``PolicyAgent`` without ``set_tasks``, so the
evaluator never gives it the tasks.

Modules: ``config`` (``OracleConfig``), ``networks`` (``TaskFeatures`` and the actor-critics of the
three conditionings), ``hypernetwork`` (the generated layers ``HyperLinear``, ``apply_generated``),
``agent`` (``PolicyAgent``, ``OracleAgent``) and ``learner`` (``OracleTrainer``, ``make_oracle_trainer``).
"""

from metarl.agents.oracle.agent import OracleAgent, PolicyAgent
from metarl.agents.oracle.config import OracleConfig, OraclePPOConfig
from metarl.agents.oracle.hypernetwork import HyperLinear
from metarl.agents.oracle.learner import OracleTrainer, make_oracle_trainer
from metarl.agents.oracle.networks import ActorCritic, ConcatActorCritic, HyperActorCritic, TaskFeatures

__all__ = [
    "ActorCritic",
    "ConcatActorCritic",
    "HyperActorCritic",
    "HyperLinear",
    "OracleAgent",
    "OracleConfig",
    "OraclePPOConfig",
    "OracleTrainer",
    "PolicyAgent",
    "TaskFeatures",
    "make_oracle_trainer",
]
