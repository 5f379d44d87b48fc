"""VariBAD's VAE loss: the negative ELBO of a batch of trials, term by term as the reference repo."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from metarl.agents.varibad.config import VariBADConfig
from metarl.agents.varibad.networks import BeliefEncoder, GridCells
from torch import Tensor

from metarl.common.replay import TrialBuffer


def gaussian_kl(mean: Tensor, logvar: Tensor, mean0: Tensor, logvar0: Tensor) -> Tensor:
    """``KL(N(mean, e^logvar) || N(mean0, e^logvar0))`` of diagonal Gaussians, summed over the last dim."""
    return 0.5 * (logvar0 - logvar - 1.0 + (logvar - logvar0).exp() + (mean - mean0).square() / logvar0.exp()).sum(-1)


def reduce_terms(loss: Tensor, mask: Tensor, average: bool) -> Tensor:
    """Sum (or mean) of ``loss`` over dim 0 where ``mask``; the mean of an all-masked slice is 0."""
    total = (loss * mask).sum(0)
    return total / mask.sum(0).clamp(min=1) if average else total


class ELBO:
    """The VAE loss of ``encoder`` and ``decoders`` (``reward``, ``state``, ``task``, as configured).

    ``cells`` index the grid cells of observations (``obs_dim`` first state features) for
    ``multihead_for_reward``; ``task_table`` ``(tasks, task_dim)`` enumerates the tasks for
    ``task_pred_type: task_id``; ``generator`` draws the posterior samples and the subsampled terms.
    """

    def __init__(self, cfg: VariBADConfig, encoder: BeliefEncoder, decoders: nn.ModuleDict, obs_dim: int,
                 cells: GridCells | None, task_table: Tensor | None, generator: torch.Generator,
                 device: torch.device) -> None:  # fmt: skip
        self.cfg, self.encoder, self.decoders = cfg, encoder, decoders
        self.obs_dim, self.cells, self.task_table = obs_dim, cells, task_table
        self.generator, self.device = generator, device

    def __call__(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """The negative ELBO on a ``batch`` of trials from ``TrialBuffer.sample`` (the repo's ``compute_vae_loss``).

        Posteriors ``q_t`` after ``t = 0..len`` transitions (``q_0`` the prior) are the ELBO terms;
        each decodes the trial's timesteps (all, or ``vae_subsample_decodes`` random ones; only
        those before ``t`` with ``decode_only_past``). Reconstruction terms are summed (or averaged)
        over the ELBO terms and the decoded steps and averaged over trials; KL and task terms are
        summed over the ELBO terms and over trials, as the repo. Trials shorter than the longest in
        the batch are masked past their length.
        """
        cfg, g = self.cfg, self.generator
        length = batch["length"]
        T = int(length.max())
        seq = {k: batch[k][:T] for k in TrialBuffer.SEQUENCES}
        mean, logvar = self.encoder(seq["action"], seq["next_state"], seq["reward"][..., None], cfg.tbptt_stepsize)
        sample = mean + (0.5 * logvar).exp() * torch.randn(mean.shape, generator=g, device=self.device)
        B = length.shape[0]
        rows = torch.arange(B, device=self.device)
        if cfg.vae_subsample_elbos is not None:  # random ELBO terms t in [0, len] per trial
            t = (torch.rand(cfg.vae_subsample_elbos, B, generator=g, device=self.device) * (length + 1)).long()
        else:
            t = torch.arange(T + 1, device=self.device)[:, None].expand(T + 1, B)
        elbo_mask = t <= length
        latent = sample[t, rows]  # (E, B, latent_dim)
        terms: dict[str, Tensor] = {}
        if cfg.decode_reward or cfg.decode_state:
            terms.update(self._reconstruction_losses(latent, t, elbo_mask, seq, length))
        if cfg.decode_task:
            task_loss = self._task_loss(latent, batch["task"])
            terms["task"] = reduce_terms(task_loss, elbo_mask, cfg.vae_avg_elbo_terms).sum()
        kl = self._kl(mean, logvar)[t, rows]
        terms["kl"] = reduce_terms(kl, elbo_mask, cfg.vae_avg_elbo_terms).sum()
        coeffs = {"reward": cfg.rew_loss_coeff, "state": cfg.state_loss_coeff, "task": cfg.task_loss_coeff, "kl": cfg.kl_weight}
        loss = sum(coeffs[k] * v for k, v in terms.items())
        names = {"reward": "reward_reconstr_err", "state": "state_reconstr_err", "task": "task_reconstr_err", "kl": "kl"}
        metrics = {f"vae_losses/{names[k]}": v.item() for k, v in terms.items()}
        metrics["vae_losses/sum"] = loss.item()
        return loss, metrics

    def _kl(self, mean: Tensor, logvar: Tensor) -> Tensor:
        """``(T + 1, B)``: KL of each posterior to the previous one (the first to N(0, I)), or of each
        to N(0, I) with ``kl_to_gauss_prior``."""
        if self.cfg.kl_to_gauss_prior:
            return gaussian_kl(mean, logvar, torch.zeros_like(mean), torch.zeros_like(logvar))
        prev_mean = torch.cat([torch.zeros_like(mean[:1]), mean[:-1]])
        prev_logvar = torch.cat([torch.zeros_like(logvar[:1]), logvar[:-1]])
        return gaussian_kl(mean, logvar, prev_mean, prev_logvar)

    def _reconstruction_losses(self, latent: Tensor, t: Tensor, elbo_mask: Tensor, seq: dict[str, Tensor],
                               length: Tensor) -> dict[str, Tensor]:  # fmt: skip
        """Reward and state reconstruction terms of every ELBO term ``(E, B)`` on its decoded steps."""
        cfg = self.cfg
        E, B = t.shape
        horizon = t if cfg.decode_only_past else length.expand(E, B)  # decode steps j < horizon
        if cfg.vae_subsample_decodes is not None:
            u = torch.rand(E, cfg.vae_subsample_decodes, B, generator=self.generator, device=self.device)
            j = (u * horizon[:, None]).long()
            decode_mask = (horizon > 0)[:, None].expand_as(j)
        else:
            T = seq["reward"].shape[0]
            j = torch.arange(T, device=self.device)[None, :, None].expand(E, T, B)
            decode_mask = j < horizon[:, None]
        decode_mask = decode_mask & elbo_mask[:, None]
        seq = dict(seq)
        if self.cells is not None:
            seq["cell"] = self.cells(seq["next_state"][..., : self.obs_dim])
        if cfg.multihead_for_reward and not cfg.decode_state:  # the heads read the cell, not the states
            seq = {k: seq[k] for k in ("reward", "cell")}
        if cfg.vae_subsample_decodes is None:  # every ELBO term decodes the same steps: views, no copies
            data = {k: v[None].expand(E, *v.shape) for k, v in seq.items()}
        else:
            rows = torch.arange(B, device=self.device).expand_as(j)
            data = {k: v[j, rows] for k, v in seq.items()}  # (E, D, B, ...)
        losses = {}
        if cfg.decode_reward:
            losses["reward"] = self._reward_loss(latent, data)
        if cfg.decode_state:
            losses["state"] = self._state_loss(latent[:, None].expand(*j.shape, latent.shape[-1]), data)
        return {k: self._reduce_decodes(v, decode_mask) for k, v in losses.items()}

    def _reduce_decodes(self, loss: Tensor, mask: Tensor) -> Tensor:
        """``(E, D, B)`` -> scalar: over ELBO terms, then decoded steps (sum or mean each), mean over trials."""
        cfg = self.cfg
        per_step = reduce_terms(loss, mask, cfg.vae_avg_elbo_terms)
        per_trial = reduce_terms(per_step, mask.any(0), cfg.vae_avg_reconstruction_terms)
        return per_trial.mean()

    def _reward_loss(self, latent: Tensor, data: dict[str, Tensor]) -> Tensor:
        """``(E, D, B)`` reward reconstruction errors of latents ``(E, B, latent_dim)`` on decoded steps."""
        cfg = self.cfg
        reward = data["reward"]
        if cfg.multihead_for_reward:
            # The heads depend on the latent alone: evaluate them once per ELBO term, pick per step.
            heads = self.decoders["reward"](latent, None, None, None)
            if cfg.rew_pred_type == "categorical":
                heads = heads.softmax(-1)
            E, B = latent.shape[:2]
            pred = heads[torch.arange(E, device=self.device)[:, None, None], torch.arange(B, device=self.device), data["cell"]]
            if cfg.rew_pred_type == "categorical":
                return F.binary_cross_entropy(pred, (reward == 1).float(), reduction="none")
        else:
            z = latent[:, None].expand(*reward.shape[:2], *latent.shape[1:])
            pred = self.decoders["reward"](z, data["next_state"], data["prev_state"], data["action"]).squeeze(-1)
        if cfg.rew_pred_type == "bernoulli":  # p(r = 1 | ...), as the repo's sigmoid + BCE
            return F.binary_cross_entropy_with_logits(pred, (reward == 1).float(), reduction="none")
        return (pred - reward).square()

    def _state_loss(self, z: Tensor, data: dict[str, Tensor]) -> Tensor:
        pred = self.decoders["state"](z, data["prev_state"], data["action"])
        target = data["next_state"]
        if self.cfg.state_pred_type == "gaussian":
            mean, logvar = pred.chunk(2, dim=-1)
            return -torch.distributions.Normal(mean, (0.5 * logvar).exp()).log_prob(target).mean(-1)
        return (pred - target).square().mean(-1)

    def _task_loss(self, latent: Tensor, task: Tensor) -> Tensor:
        """``(E, B)``: cross-entropy over the enumerated tasks, or squared error of the parameters."""
        pred = self.decoders["task"](latent)
        if self.task_table is None:
            return (pred - task).square().mean(-1)
        ids = (task[:, None, :] - self.task_table[None]).abs().sum(-1).argmin(-1)
        return F.cross_entropy(pred.flatten(0, 1), ids.expand(pred.shape[0], -1).flatten(), reduction="none").view(pred.shape[:2])
