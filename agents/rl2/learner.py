"""RL^2's training: one trial on each of ``num_envs`` tasks per iteration, then PPO or TRPO on whole
trials; checkpointing and the ``make_rl2_trainer`` factory."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from metarl.agents.rl2.agent import RL2Agent
from metarl.agents.rl2.config import RL2Config
from metarl.agents.rl2.networks import RL2Network
from torch import Tensor
from torch.distributions import kl_divergence

from metarl.common.advantages import gae, normalize
from metarl.common.config import RunConfig
from metarl.common.normalization import RewardNormalizer
from metarl.common.ppo import clip_grad_and_step, minibatch_indices, ppo_losses, value_error
from metarl.common.state import Checkpointable
from metarl.common.training_env import TrainingTasks, make_training_env
from metarl.common.trials import draw_seed, trial_steps
from metarl.common.trpo import trpo_step
from metarl.core.vector import TaskVectorEnv


@dataclass
class Trials:
    """One trial on each of ``N`` sub-envs, time-major ``(T, N, ...)``, on the device.

    ``mask`` is False on the steps after a sub-env's trial ended (only in families whose
    episodes end early); ``trial_end`` is True on each sub-env's last step of its trial.
    ``hidden`` ``(C, N, H)`` is the GRU state entering each BPTT chunk of ``bptt_length`` steps.
    ``values`` are the policy network's (None with TRPO, whose value network runs after collection).
    """

    inputs: Tensor
    actions: Tensor
    log_probs: Tensor
    values: Tensor | None
    rewards: Tensor
    mask: Tensor
    trial_end: Tensor
    hidden: Tensor


def chunk_sequences(x: Tensor, length: int) -> Tensor:
    """``(T, N, ...)`` -> ``(length, C * N, ...)``: ``C = ceil(T / length)`` chunks per sub-env,
    zero-padded at the end; sequence ``c * N + n`` is chunk ``c`` of sub-env ``n``."""
    T, N = x.shape[:2]
    chunks = math.ceil(T / length)
    padded = torch.cat([x, x.new_zeros(chunks * length - T, *x.shape[1:])]) if chunks * length > T else x
    return padded.view(chunks, length, *x.shape[1:]).transpose(0, 1).reshape(length, chunks * N, *x.shape[2:])


class RL2Learner(Checkpointable):
    """RL^2 training: one trial on each of ``num_envs`` fresh tasks per iteration, then PPO."""

    #: Network (and TRPO's value network), optimizer, generators, reward statistics and counters.
    state_fields = {
        "agent": "agent",
        "optimizer": "optimizer",
        "generators/agent": "agent.generator",
        "generators/learner": "generator",
        "return_rms": "rewards.rms",
        "value_net": "value_net",
        "env_steps": "env_steps",
        "iterations": "iterations",
        "episode_returns": "episode_returns",
    }

    def __init__(self, cfg: RL2Config, env: TaskVectorEnv, device: torch.device, seed: int) -> None:
        if env.max_episode_steps is None:
            raise ValueError("RL^2 needs episodes of bounded length; the env has max_episode_steps=None")
        self.cfg, self.env, self.device = cfg, env, device
        self.trial_episodes = cfg.trial_episodes or env.family.trial_episodes
        self.trial_length = self.trial_episodes * env.max_episode_steps  # steps per trial
        self.bptt_length = min(cfg.bptt_length or self.trial_length, self.trial_length)
        self.agent = RL2Agent(cfg, env.single_observation_space, env.single_action_space, device, seed)
        # TRPO: the policy moves by trust-region steps; Adam fits a value network of its own.
        obs_space, action_space = env.single_observation_space, env.single_action_space
        self.value_net = RL2Network(cfg, obs_space, action_space, policy=False).to(device) \
            if cfg.slow_learner == "trpo" else None  # fmt: skip
        trained = self.value_net if self.value_net is not None else self.agent
        self.optimizer = torch.optim.Adam(trained.parameters(), lr=cfg.ppo.lr, eps=1e-5)
        self.generator = torch.Generator(device).manual_seed(seed + 1)  # tasks, env seeds, actions, minibatches
        self.training_tasks = TrainingTasks(env, cfg.task_source, self.generator)
        # The slow learner's reward scaling (normalize_rewards): each trial is one episode.
        self.rewards = RewardNormalizer(env.num_envs, cfg.ppo.gamma, None, "trial", device)
        self.env_steps = 0
        self.iterations = 0
        # One value per iteration: the mean return of the episodes of its trials.
        self.episode_returns: list[float] = []

    @torch.no_grad()
    def collect(self) -> Trials:
        """One trial per sub-env on new tasks, every sub-env stepped together (``trial_steps``)."""
        env, agent, net = self.env, self.agent, self.agent.net
        env.set_tasks(self.training_tasks.draw())
        seed = draw_seed(self.generator)
        n, L = env.num_envs, self.bptt_length
        state = agent.begin_task(n)
        hidden, values, steps = [], [], []

        def act(obs: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
            nonlocal state
            if len(steps) % L == 0:
                hidden.append(state.hidden)
            x = agent.inputs(obs, state)
            dist, value, pending = net(x[None], state.hidden)
            state = replace(state, pending=pending)
            action = net.head.sample(dist, self.generator)
            if value is not None:
                values.append(value[0])
            return net.head.to_env_action(action[0]), {"input": x, "action": action[0], "log_prob": dist.log_prob(action)[0]}

        for step in trial_steps(env, act, episodes=self.trial_episodes, seed=seed, device=self.device):
            steps.append(step)
            state = state.advance(step.action, step.reward.float(), step.done, step.valid)
        self.env_steps += n * len(steps)
        stacked = {k: torch.stack([s.extras[k] for s in steps]) for k in steps[0].extras}
        mask, ends, finished = (torch.stack([getattr(s, k) for s in steps]) for k in ("valid", "trial_end", "episode_return"))
        rewards = torch.stack([s.reward.float() for s in steps])
        self.episode_returns.extend(finished[finished.isfinite()].tolist())
        value_steps = torch.stack(values) if values else None
        return Trials(stacked["input"], stacked["action"], stacked["log_prob"], value_steps, rewards, mask, ends,
                       torch.stack(hidden))  # fmt: skip

    def scaled_rewards(self, rollout: Trials) -> Tensor:
        """Rewards for the advantages: divided by the running std of the discounted trial return
        when ``normalize_rewards`` (the network's inputs always keep the raw rewards)."""
        return self.rewards.batch(rollout.rewards, rollout.mask) if self.cfg.normalize_rewards else rollout.rewards

    def update(self, rollout: Trials) -> dict[str, float]:
        """PPO epochs over minibatches of whole BPTT chunks (sequences of ``bptt_length`` steps
        starting from the hidden state the rollout had there)."""
        ppo, net = self.cfg.ppo, self.agent.net
        last_value = torch.zeros_like(rollout.values[0])  # the trial is the episode: nothing after it
        rewards = self.scaled_rewards(rollout)
        advantages, returns = gae(rewards, rollout.values, rollout.trial_end, last_value, ppo.gamma, ppo.gae_lambda)
        L = self.bptt_length
        seq = {
            k: chunk_sequences(v, L)
            for k, v in dict(
                inputs=rollout.inputs, actions=rollout.actions, log_probs=rollout.log_probs, values=rollout.values,
                advantages=advantages, returns=returns, mask=rollout.mask,
            ).items()
        }  # fmt: skip
        h0 = rollout.hidden.reshape(-1, rollout.hidden.shape[-1])
        for _ in range(ppo.epochs):
            for idx in minibatch_indices(h0.shape[0], ppo.num_minibatches, self.generator, self.device):
                mb = {k: v[:, idx] for k, v in seq.items()}
                dist, value, _ = net(mb["inputs"], h0[idx])
                adv = normalize(mb["advantages"], mb["mask"]) if ppo.normalize_advantages else mb["advantages"]
                losses = ppo_losses(
                    ppo, dist.log_prob(mb["actions"]), mb["log_probs"], adv, dist.entropy(),
                    value, mb["values"], mb["returns"], mb["mask"],
                )  # fmt: skip
                grad_norm = clip_grad_and_step(self.optimizer, losses.total(ppo), ppo.max_grad_norm)
        return {**losses.metrics(), "losses/grad_norm": grad_norm}  # of the last minibatch

    def trpo_update(self, rollout: Trials) -> dict[str, float]:
        """One TRPO step of the policy on whole trials, advantages from the value network's GAE;
        then the value network's Adam epochs on minibatches of whole trials."""
        ppo, net, value_net = self.cfg.ppo, self.agent.net, self.value_net
        h0, mask, actions = rollout.hidden[0], rollout.mask, rollout.actions
        with torch.no_grad():
            old_dist, _, _ = net(rollout.inputs, h0)
            values = value_net(rollout.inputs, h0)[1]
        rewards = self.scaled_rewards(rollout)
        advantages, returns = gae(rewards, values, rollout.trial_end, torch.zeros_like(values[0]), ppo.gamma, ppo.gae_lambda)
        adv = normalize(advantages, mask) if ppo.normalize_advantages else advantages

        def objective(differentiable: bool) -> tuple[Tensor, Tensor]:
            with torch.set_grad_enabled(differentiable):
                dist, _, _ = net(rollout.inputs, h0)
                ratio = torch.exp(dist.log_prob(actions) - rollout.log_probs)
                loss = -(ratio * adv)[mask].mean() - ppo.entropy_coef * dist.entropy()[mask].mean()
                return loss, kl_divergence(old_dist, dist)[mask].mean()

        metrics = trpo_step(list(net.parameters()), objective, self.cfg.trpo)
        for _ in range(ppo.epochs):
            for idx in minibatch_indices(mask.shape[1], ppo.num_minibatches, self.generator, self.device):
                predicted = value_net(rollout.inputs[:, idx], h0[idx])[1]
                value_loss = 0.5 * value_error(predicted, returns[:, idx], ppo.value_loss)[mask[:, idx]].mean()
                grad_norm = clip_grad_and_step(self.optimizer, value_loss, ppo.max_grad_norm)
        return {**metrics, "losses/value_loss": value_loss.item(), "losses/value_grad_norm": grad_norm}

    def train_iteration(self) -> dict[str, float]:
        """Collect one trial per sub-env and run the slow learner's update on them."""
        rollout = self.collect()
        metrics = self.trpo_update(rollout) if self.value_net is not None else self.update(rollout)
        trial_return = rollout.rewards.sum(0)
        self.iterations += 1
        metrics["charts/trial_return"] = float(trial_return.mean())
        return metrics


def make_rl2_trainer(cfg: RunConfig, device: torch.device) -> RL2Learner:
    """RL^2 on ``cfg.env``: ``num_envs`` sub-envs with same-step autoreset, one task each per trial."""
    rl2: RL2Config = cfg.agent_config
    env = make_training_env(cfg, rl2.num_envs, device)
    return RL2Learner(rl2, env, device, cfg.seed)
