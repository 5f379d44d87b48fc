"""RL^2: a recurrent policy trained over whole trials (Duan et al., 2016).

"RL^2: Fast Reinforcement Learning via Slow Reinforcement Learning". The "fast" learner is the
hidden state of a GRU; the "slow" learner is an ordinary policy-gradient method on its weights:

- a trial is ``trial_episodes`` consecutive episodes on one task; the GRU reads, per step,
  ``trial_input(obs, previous action, previous reward, previous done flag)``
  (``metarl.common.trials``); its hidden state carries over episode boundaries and is reset to zeros
  only when a new task begins;
- policy and value heads read the GRU's output; the value function and the discount treat the
  whole trial as one episode (gamma runs across episode boundaries, no bootstrap at the trial's
  end), as in the paper;
- the slow learner is PPO on whole trials, with truncated backpropagation through time in chunks
  of ``bptt_length`` steps for long trials; or, as in the paper, TRPO (``slow_learner: trpo``):
  one trust-region step of the policy on whole trials, with a value function of its own (a second
  GRU, fitted by Adam with the ``ppo`` section's lr, epochs and minibatches) as GAE's baseline.

Training collects one trial on each of ``num_envs`` tasks per iteration, all at once on the
device, from a batched env (``gymnasium.make_vec(..., vectorization_mode="vector_entry_point")``
with same-step autoreset, which keeps each sub-env's task across its episodes). Tasks are drawn
afresh from the family's training distribution for every trial (``task_source="distribution"``,
the paper's setting), or from the fixed training task set (``"train_set"``, as PEARL).

Every sub-env runs ``trial_episodes * max_episode_steps`` steps. In families without early
termination that is exactly ``trial_episodes`` episodes; where an episode can end early, a
sub-env's trial ends when its ``trial_episodes``-th episode ends and its remaining steps are
masked out of the update, so training trials are exactly the trials ``metarl.runner.evaluation`` runs.

Meta-test (``RL2Agent``): ``begin_task`` zeroes the hidden state; ``act`` builds the same input
from the state (previous action, reward and done flag) and steps the GRU; ``observe`` commits
the step for valid rows; ``end_episode`` raises the done flag the next input carries.

Modules: ``config`` (``RL2Config``), ``networks`` (the GRU policy/value network), ``agent`` (the
adaptation interface and its state), ``learner`` (collection, PPO/TRPO updates, checkpoints, and
``make_rl2_trainer``).
"""

from metarl.agents.rl2.agent import RL2Agent, RL2State
from metarl.agents.rl2.config import RL2Config
from metarl.agents.rl2.learner import RL2Learner, Trials, chunk_sequences, make_rl2_trainer
from metarl.agents.rl2.networks import RL2Network

__all__ = [
    "RL2Agent", "RL2Config", "RL2Learner", "RL2Network", "RL2State", "Trials", "chunk_sequences", "make_rl2_trainer",
]  # fmt: skip
