"""VariBAD's policy update: PPO on the valid steps of collected trials (the repo's ``PPO.update``)."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn as nn
from metarl.agents.varibad.agent import VariBADAgent
from metarl.agents.varibad.collection import Trial
from metarl.agents.varibad.config import VariBADConfig
from torch import Tensor

from metarl.common.advantages import gae, normalize
from metarl.common.ppo import clip_grad_and_step, minibatch_indices, ppo_losses


class PolicyUpdate:
    """PPO on the belief-conditioned policy of ``agent``, a call per batch of trials.

    With ``rlloss_through_encoder`` the PPO loss plus ``vae_loss_coeff`` times the VAE loss
    (``vae_loss()``: the loss and its metrics on a fresh batch of buffered trials) are minimised
    jointly, the latents recomputed through the encoder for every minibatch; ``generator`` draws
    the minibatches.
    """

    def __init__(self, cfg: VariBADConfig, agent: VariBADAgent, policy_optimizer: torch.optim.Optimizer,
                 vae_optimizer: torch.optim.Optimizer, vae_loss: Callable[[], tuple[Tensor, dict[str, float]]],
                 generator: torch.Generator) -> None:  # fmt: skip
        self.cfg, self.agent = cfg, agent
        self.policy_optimizer, self.vae_optimizer = policy_optimizer, vae_optimizer
        self.vae_loss, self.generator, self.device = vae_loss, generator, agent.device

    def __call__(self, trials: list[Trial]) -> dict[str, float]:
        """GAE over each trial (the trial is the BAMDP episode), input statistics updated, old
        log-probabilities taken under them, advantages normalised over the batch, ``epochs``
        passes of minibatches."""
        cfg, ppo, policy = self.cfg, self.cfg.ppo, self.agent.policy
        t = {k: torch.cat([getattr(tr, k) for tr in trials]) for k in
             ("obs", "latent", "action", "value", "policy_reward", "valid", "trial_end", "timeout")}  # fmt: skip
        timeouts = t["timeout"] if cfg.use_proper_time_limits else None
        last_value = torch.zeros_like(t["value"][0])  # every trial ends inside the rollout
        advantages, returns = gae(t["policy_reward"], t["value"], t["trial_end"], last_value, ppo.gamma, ppo.gae_lambda, timeouts)
        valid = t["valid"]
        obs, latent, action, old_value = t["obs"][valid], t["latent"][valid], t["action"][valid], t["value"][valid]
        advantages, returns = advantages[valid], returns[valid]
        if ppo.normalize_advantages:
            advantages = normalize(advantages, eps=1e-5)
        policy.update_normalisation(obs, latent)
        with torch.no_grad():
            old_log_prob = policy(obs, latent)[0].log_prob(action)
        for _ in range(ppo.epochs):
            for idx in minibatch_indices(len(obs), ppo.num_minibatches, self.generator, self.device):
                mb_latent = self.encoder_latents(trials)[valid][idx] if cfg.rlloss_through_encoder else latent[idx]
                dist, value = policy(obs[idx], mb_latent)
                losses = ppo_losses(ppo, dist.log_prob(action[idx]), old_log_prob[idx], advantages[idx],
                                    dist.entropy(), value, old_value[idx], returns[idx])  # fmt: skip
                if cfg.rlloss_through_encoder:
                    vae_loss, vae_metrics = self.vae_loss()
                    self._joint_step(losses.total(ppo) + cfg.vae_loss_coeff * vae_loss)
                else:
                    clip_grad_and_step(self.policy_optimizer, losses.total(ppo), ppo.max_grad_norm)
        metrics = losses.metrics()
        metrics["charts/policy_lr"] = self.policy_optimizer.param_groups[0]["lr"]
        if cfg.rlloss_through_encoder:
            metrics.update(vae_metrics)
        return metrics

    def encoder_latents(self, trials: list[Trial]) -> Tensor:
        """The policy's latents of the collected steps recomputed with gradients ``(T, N, 2 latent)``
        (for ``rlloss_through_encoder``)."""
        latents = []
        for trial in trials:
            v = trial.vae
            mean, logvar = self.agent.encoder(v["action"], v["next_state"], v["reward"][..., None], self.cfg.tbptt_stepsize)
            latents.append(torch.cat([mean[:-1], logvar[:-1]], dim=-1))
        return torch.cat(latents)

    def _joint_step(self, loss: Tensor) -> None:
        """Policy and VAE step on one loss (``rlloss_through_encoder``): policy gradients clipped to
        ``ppo.max_grad_norm``, the encoder's to ``encoder_max_grad_norm`` (decoders unclipped, as the repo)."""
        cfg = self.cfg
        self.policy_optimizer.zero_grad()
        self.vae_optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.agent.policy.parameters(), cfg.ppo.max_grad_norm)
        if cfg.encoder_max_grad_norm is not None:
            nn.utils.clip_grad_norm_(self.agent.encoder.parameters(), cfg.encoder_max_grad_norm)
        self.policy_optimizer.step()
        self.vae_optimizer.step()
