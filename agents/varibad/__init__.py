"""VariBAD: a variational belief over the task, and a policy conditioned on it (Zintgraf et al., 2020).

"VariBAD: A Very Good Method for Bayes-Adaptive Deep RL via Meta-Learning", following the
reference implementation (lmzintgraf/varibad: ``metalearner.py``, ``vae.py``, ``models/``,
``algorithms/ppo.py``) in its algorithmic details:

- a trial (the BAMDP's episode) is ``trial_episodes`` consecutive episodes on one task; the
  encoder's belief carries over episode boundaries and restarts from the prior with a new task;
- encoder: embeddings of action, state and reward (``Linear + ReLU`` each; size 0 drops the
  input), optional ReLU layers, a GRU, optional ReLU layers, and linear heads for the mean and
  log-variance of a Gaussian posterior ``q(m | tau_{:t})`` over a latent task variable ``m``;
  the prior (``t = 0``) is the same heads applied to the GRU's initial (zero) hidden state;
- decoders reconstruct, from a sample of the posterior after every timestep ``t``, the rewards
  (and optionally the next states, or the task) of *all* timesteps of the trial, past and future
  (``decode_only_past`` restricts them to the past); the reward decoder is either one head per
  state of a discrete grid (``multihead_for_reward``, a Bernoulli probability of the reward
  being 1) or a network of (next state, previous state, action);
- the ELBO terms ``t = 0..H`` add ``kl_weight * KL(q_t || q_{t-1})`` (``q_{-1} = N(0, I)``; with
  ``kl_to_gauss_prior`` ``KL(q_t || N(0, I))``); ``vae_subsample_elbos`` and
  ``vae_subsample_decodes`` draw a random subset of the ELBO terms and of the decoded timesteps
  per trajectory, to bound the cost of long trials; terms are summed (or averaged) as the repo;
- the VAE is trained off-policy: ``num_vae_updates`` Adam steps per iteration on batches of
  ``vae_batch_num_trajs`` trials from a ring buffer of the ``vae_buffer_size`` most recent trials;
- the policy sees ``[state, latent mean, latent log-variance]``, each normalised by running
  statistics and embedded (``tanh``), with separate actor and critic MLPs (normc initialisation),
  and is trained with PPO (``metarl.common.ppo``; clipped Huber value loss, advantages normalised
  over the batch) on rewards divided by the running std of the discounted trial return
  (``norm_rew_for_policy``); the encoder is trained by the VAE loss only, unless
  ``rlloss_through_encoder`` (then the PPO loss plus ``vae_loss_coeff`` times the VAE loss are
  minimised jointly, the latents recomputed with gradients for every minibatch, as the paper's
  ablation); ``use_proper_time_limits`` zeroes the advantage of time-limit steps (MuJoCo configs).

Batched on the device: ``num_envs`` sub-envs of one ``gymnasium.make_vec(...,
vectorization_mode="vector_entry_point")`` env with same-step autoreset (a sub-env keeps its task
across its episodes) step together; the only Python loops are over time.

Departures from the repo, each for a reason:

- An iteration collects ``trials_per_iteration`` whole trials on every sub-env, all sub-envs
  starting a trial together on fresh tasks (the repo continues ``policy_num_steps``-step rollouts
  across iterations). This equals the repo wherever ``policy_num_steps`` is a multiple of the
  trial length (gridworld 60 = 1 trial, cheetah-vel 400 = 1, cheetah-dir 800 = 2), keeps the
  checkpoint free of simulator state (resume is exact) and gives each trial the prior at its
  start (the repo encodes the last transition of the old trial into the first latent of the new
  one when a trial ends mid-rollout). Ant-dir's 200-step rollouts (half a trial) become one trial.
  Where episodes can end early, a sub-env's trial ends with its ``trial_episodes``-th episode and
  its remaining steps are masked out (the trials ``metarl.runner.evaluation`` runs).
- The policy acts on the true first observation of each new episode (gymnasium's autoreset); the
  repo acts once more on the terminal observation with a done flag. The encoder and decoders
  still see the repo's done flag appended to the state (``add_done_info``, on for trials of more
  than one episode), 1 on the transition that ended an episode.
- Discrete actions enter the encoder and decoders one-hot (``metarl.common.distributions.encode_action``; the
  repo feeds the action index as one number); Box actions are the clipped actions the env saw.
- Tasks for training trials are drawn from the family's distribution (the repo's
  ``reset_task``); ``task_source="train_set"`` draws from the fixed training set instead.
- Not implemented: A2C, ``pretrain_len`` (VAE pre-training), ``sample_embeddings``,
  ``disable_stochasticity_in_latent``, ``disable_decoder``, ``disable_kl_term`` (use
  ``kl_weight: 0``), ``add_nonlinearity_to_latent`` and ``norm_actions_post_sampling``: none is
  used by the repo's VariBAD configs.

The package: ``config`` (``VariBADConfig``), ``networks`` (encoder, policy, decoders), ``agent``
(the adaptation interface), ``collection`` (whole trials on fresh tasks), ``losses`` (the ELBO),
``ppo`` (the policy update) and ``learner`` (``VariBADLearner``, which ties them together and
checkpoints, and ``make_varibad_trainer``). The VAE's trial buffer is
``metarl.common.replay.TrialBuffer``.
"""

from metarl.agents.varibad.agent import VariBADAgent, VariBADState
from metarl.agents.varibad.config import VariBADConfig
from metarl.agents.varibad.learner import VariBADLearner, make_varibad_trainer

__all__ = ["VariBADAgent", "VariBADConfig", "VariBADLearner", "VariBADState", "make_varibad_trainer"]
