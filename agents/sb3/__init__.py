"""Stable-Baselines3 baselines: standard RL trained on the mixture of training tasks.

``agent: sb3`` trains an SB3 (or sb3-contrib) model on a family's single env through the
wrappers of ``metarl.core.wrappers``, and adapts it to the adaptation interface so ``metarl
evaluate`` and ``metarl plot`` treat it like any meta-RL agent:

- ``algo: ppo | sac``, ``task_info: false``: the multi-task policy that never adapts, a new
  training task every episode (``MultiTaskWrapper``): the no-adaptation lower bound.
- ``task_info: true``: the same with the task parameters appended to the observation
  (``TaskObservationWrapper``): an oracle from a standard library. At evaluation the adapter is
  ``TaskAware``: it is given the held-out tasks by ``set_tasks``.
- ``algo: recurrent_ppo``, ``trial: true``: RL^2 with sb3-contrib's ``RecurrentPPO`` on trials
  (``TrialWrapper``); the adapter carries the LSTM state and the previous action, reward and
  done flag across the episodes of an adaptation and resets them at ``begin_task``.

Training calls ``model.learn`` in chunks (one chunk per ``train_iteration``). A checkpoint holds
tensors and plain values only (``agents/sb3/state.py``; the sub-envs: ``agents/sb3/env_state.py``),
never pickles or SB3's ``model.save`` archive, and resuming never unpickles: the trainer is rebuilt from the run's config and the state
is written into it: the policy's parameters and optimizer states (SAC's entropy coefficient too),
SB3's counters, last observations and episode-info buffers, the replay buffer (SAC), the LSTM
states (RecurrentPPO), the running statistics of ``normalize``, and the sub-envs in the middle of
their episodes (wrapper counters, task streams, RNGs, the task, and the simulation: an analytic
env's state tensor, a MuJoCo env's integration state and derived quantities). Resuming loses only
the steps after the checkpoint, bit for bit. A wrapper, env or buffer whose state metarl does not
know is an error when the checkpoint is written.
Hyperparameters are constants: SB3 measures a schedule's progress within one ``learn`` call, so
chunked training has no schedules over the whole run (the zoo's ``lin_...`` are not supported).

Unlike metarl's own agents, this baseline is the standard library as it is: SB3 trains on numpy
single envs in a ``DummyVecEnv`` (a per-env Python loop), and at evaluation the adapter moves the
batched torch observations to numpy for ``model.predict`` and its actions back to torch.

Modules: ``config`` (``SB3Config`` and the algorithms, policies and activations it names),
``agent`` (the adapter), ``learner`` (the training envs, ``SB3Trainer`` and ``make_sb3_trainer``),
``state`` (the algorithm's and ``VecNormalize``'s checkpoint state) and ``env_state`` (the sub-envs').
"""

from metarl.agents.sb3.agent import SB3Agent, SB3OracleAgent, SB3State
from metarl.agents.sb3.config import SB3Config
from metarl.agents.sb3.learner import SB3Trainer, make_sb3_trainer, make_single_env

__all__ = ["SB3Agent", "SB3Config", "SB3OracleAgent", "SB3State", "SB3Trainer", "make_sb3_trainer", "make_single_env"]
