"""RL^2: a recurrent policy trained over whole trials (Duan et al., 2016).

"RL^2: Fast Reinforcement Learning via Slow Reinforcement Learning". The "fast" learner is the
hidden state of a GRU; the "slow" learner is an ordinary policy-gradient method on its weights:

- a trial is ``trial_episodes`` consecutive episodes on one task; the GRU reads, per step,
  ``trial_input(obs, previous action, previous reward, previous done flag)``
  (``metarl.common.onpolicy``); its hidden state carries over episode boundaries and is reset to zeros
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
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import torch
import torch.nn as nn
from gymnasium import spaces
from torch import Tensor
from torch.distributions import Distribution, kl_divergence

from metarl.common.checks import check
from metarl.common.config import RunConfig
from metarl.common.onpolicy import (
    ActionHead,
    PPOConfig,
    RunningMeanStd,
    TRPOConfig,
    clip_grad_and_step,
    gae,
    minibatch_indices,
    normalize,
    ppo_losses,
    trial_input,
    trial_input_dim,
    trpo_step,
    value_error,
)
from metarl.common.protocol import Transition
from metarl.common.training_env import TRAINING_TASK_SOURCES, TrainingTasks, TrainingTaskSource, make_training_env
from metarl.core.spaces import check_action_space
from metarl.core.vector import TaskVectorEnv


@dataclass
class RL2Config:
    """RL^2 hyperparameters. The network defaults are the paper's bandit/MDP policy (a GRU of
    256 units read by linear heads); ``ppo`` defaults to ``PPOConfig``'s, so each config states
    its discount and GAE lambda (the paper: 0.99 and 0.3 on bandits and MDPs)."""

    num_envs: int = 256  # tasks per iteration, one trial each, stepped together
    trial_episodes: int | None = None  # None: the family's trial_episodes
    task_source: TrainingTaskSource = "distribution"
    hidden_size: int = 256  # GRU units
    embedding_size: int | None = None  # a Linear+ReLU layer on the trial input before the GRU
    policy_layers: list[int] = field(default_factory=list)  # tanh layers between the GRU and each head
    init_log_std: float = 0.0  # Box actions: initial log standard deviation
    bptt_length: int | None = None  # None: backpropagate through whole trials
    normalize_rewards: bool = False  # scale rewards by the std of the discounted trial return
    ppo: PPOConfig = field(default_factory=PPOConfig)
    slow_learner: Literal["ppo", "trpo"] = "ppo"
    trpo: TRPOConfig = field(default_factory=TRPOConfig)  # used when slow_learner is trpo

    def __post_init__(self) -> None:
        for name in ("num_envs", "hidden_size"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        for name in ("trial_episodes", "embedding_size", "bptt_length"):
            value = getattr(self, name)
            check(value is None or value >= 1, name, value, "null or an integer >= 1")
        check(all(w >= 1 for w in self.policy_layers), "policy_layers", self.policy_layers, "a list of integers >= 1")
        allowed = ", ".join(map(repr, TRAINING_TASK_SOURCES))
        check(self.task_source in TRAINING_TASK_SOURCES, "task_source", self.task_source, allowed)
        check(self.slow_learner in ("ppo", "trpo"), "slow_learner", self.slow_learner, "'ppo' or 'trpo'")
        check(self.slow_learner == "ppo" or self.bptt_length is None, "bptt_length", self.bptt_length,
              "null with slow_learner trpo (its step takes whole trials)")  # fmt: skip


# ----- networks ----------------------------------------------------------------------------------
def tanh_mlp(inputs: int, widths: list[int]) -> tuple[nn.Sequential, int]:
    """Tanh layers of the given widths (orthogonal init, gain sqrt(2)) and their output width."""
    layers: list[nn.Module] = []
    for width in widths:
        linear = nn.Linear(inputs, width)
        nn.init.orthogonal_(linear.weight, math.sqrt(2))
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.Tanh()]
        inputs = width
    return nn.Sequential(*layers), inputs


class RL2Network(nn.Module):
    """Trial input -> (optional embedding) -> GRU -> tanh MLP -> action head, and a value head.

    Time-major: ``forward(x (L, B, D), h (B, H))`` runs ``L`` steps from hidden state ``h``.
    Episode boundaries inside a trial do not reset the GRU, so whole trials go through
    ``nn.GRU`` in one call. ``policy=False`` or ``value=False`` leaves that head out (TRPO's
    policy and value function are two GRUs, each with its own head).
    """

    def __init__(
        self, cfg: RL2Config, obs_space: spaces.Space, action_space: spaces.Space, policy: bool = True, value: bool = True
    ) -> None:
        super().__init__()
        width = trial_input_dim(obs_space, action_space)
        self.embed: nn.Module = nn.Identity()
        if cfg.embedding_size is not None:
            self.embed = nn.Sequential(nn.Linear(width, cfg.embedding_size), nn.ReLU())
            width = cfg.embedding_size
        self.gru = nn.GRU(width, cfg.hidden_size)
        for name, param in self.gru.named_parameters():  # CleanRL's recurrent PPO initialisation
            nn.init.zeros_(param) if "bias" in name else nn.init.orthogonal_(param, 1.0)
        if policy:
            self.actor, features = tanh_mlp(cfg.hidden_size, cfg.policy_layers)
            self.head = ActionHead(features, action_space, cfg.init_log_std)
        if value:
            critic, features = tanh_mlp(cfg.hidden_size, cfg.policy_layers)
            linear = nn.Linear(features, 1)
            nn.init.orthogonal_(linear.weight, 1.0)
            nn.init.zeros_(linear.bias)
            self.critic = nn.Sequential(critic, linear)
        self.policy, self.value = policy, value
        self.hidden_size = cfg.hidden_size

    def forward(self, x: Tensor, hidden: Tensor) -> tuple[Distribution | None, Tensor | None, Tensor]:
        """Action distribution and value ``(L, B)`` per step (None for a head left out), and the
        hidden state after the last step."""
        out, last = self.gru(self.embed(x), hidden[None].contiguous())
        dist = self.head(self.actor(out)) if self.policy else None
        return dist, self.critic(out).squeeze(-1) if self.value else None, last[0]


# ----- the adaptation interface ------------------------------------------------------------------
@dataclass
class RL2State:
    """Meta-test state of ``n`` tasks: the GRU's hidden state and the last step's action, reward
    and done flag (the next input's ``prev_*``). ``pending`` holds the hidden state ``act``
    computed, until ``observe`` commits it for the rows whose step was valid."""

    hidden: Tensor
    prev_action: Tensor
    prev_reward: Tensor
    prev_done: Tensor
    pending: Tensor | None = None

    def advance(self, action: Tensor, reward: Tensor, done: Tensor, valid: Tensor) -> RL2State:
        """The state after a step: rows where ``valid`` take the pending hidden state and the
        step's (env) action, reward and done flag; other rows are left as they were."""
        if self.pending is None:
            raise RuntimeError("observe() needs the hidden state of act(); call act before observe")

        def keep(new: Tensor, old: Tensor) -> Tensor:
            return torch.where(valid.view(-1, *([1] * (old.ndim - 1))), new.to(old.dtype), old)

        return RL2State(
            keep(self.pending, self.hidden),
            keep(action, self.prev_action),
            keep(reward, self.prev_reward),
            keep(done, self.prev_done),
        )


class RL2Agent(nn.Module):
    """RL^2's recurrent policy and its adaptation interface (``begin_task``/``act``/``observe``/``end_episode``)."""

    name = "rl2"

    def __init__(
        self, cfg: RL2Config, obs_space: spaces.Space, action_space: spaces.Space, device: torch.device, seed: int = 0
    ) -> None:
        super().__init__()
        check_action_space(action_space)
        self.obs_space, self.action_space = obs_space, action_space
        # With TRPO the value function is a network of the learner's own (``RL2Learner.value_net``).
        self.net = RL2Network(cfg, obs_space, action_space, value=cfg.slow_learner == "ppo")
        self.to(device)
        self.device = device
        self.generator = torch.Generator(device).manual_seed(seed)  # meta-test action sampling

    def begin_task(self, n_tasks: int) -> RL2State:
        """Zero hidden state; the first input's previous action is index 0 (Discrete) or the zero
        vector (Box), its previous reward and done flag are 0."""
        action_shape = self.action_space.shape
        if isinstance(self.action_space, spaces.Discrete):
            prev_action = torch.full((n_tasks,), int(self.action_space.start), dtype=torch.int64, device=self.device)
        else:
            prev_action = torch.zeros((n_tasks, *action_shape), device=self.device)
        return RL2State(
            hidden=torch.zeros(n_tasks, self.net.hidden_size, device=self.device),
            prev_action=prev_action,
            prev_reward=torch.zeros(n_tasks, device=self.device),
            prev_done=torch.zeros(n_tasks, dtype=torch.bool, device=self.device),
        )

    def inputs(self, obs: Tensor, state: RL2State) -> Tensor:
        """The GRU's input ``(n, D)`` for observations ``obs`` in ``state``, as in training."""
        s = state
        return trial_input(obs.to(self.device), s.prev_action, s.prev_reward, s.prev_done, self.action_space)

    @torch.no_grad()
    def act(self, obs: Tensor, state: RL2State, deterministic: bool = True) -> tuple[Tensor, RL2State]:
        """Env actions from one GRU step (the mode when ``deterministic``, else a sample from
        the agent's generator); the new hidden state waits in ``state.pending`` for ``observe``."""
        dist, _, hidden = self.net(self.inputs(obs, state)[None], state.hidden)
        head = self.net.head
        action = head.mode(dist) if deterministic else head.sample(dist, self.generator)
        return head.to_env_action(action[0]), replace(state, pending=hidden)

    def observe(self, state: RL2State, transition: Transition) -> RL2State:
        """Commit the step for rows with ``transition.valid``: hidden state, action, reward, done."""
        dev = self.device
        t = transition
        return state.advance(t.action.to(dev), t.reward.to(dev), t.done.to(dev), t.valid.to(dev))

    def end_episode(self, state: RL2State) -> RL2State:
        """Every task's episode ended: the next input's done flag is 1 (the hidden state carries on)."""
        return replace(state, prev_done=torch.ones_like(state.prev_done), pending=None)


# ----- training ----------------------------------------------------------------------------------
@dataclass
class Rollout:
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


class RL2Learner:
    """RL^2 training: one trial on each of ``num_envs`` fresh tasks per iteration, then PPO."""

    def __init__(self, cfg: RL2Config, env: TaskVectorEnv, device: torch.device, seed: int) -> None:
        if env.max_episode_steps is None:
            raise ValueError("RL^2 needs episodes of bounded length; the env has max_episode_steps=None")
        self.cfg, self.env, self.device = cfg, env, device
        self.trial_episodes = cfg.trial_episodes or env.family.trial_episodes
        self.trial_steps = self.trial_episodes * env.max_episode_steps
        self.bptt_length = min(cfg.bptt_length or self.trial_steps, self.trial_steps)
        self.agent = RL2Agent(cfg, env.single_observation_space, env.single_action_space, device, seed)
        # TRPO: the policy moves by trust-region steps; Adam fits a value network of its own.
        obs_space, action_space = env.single_observation_space, env.single_action_space
        self.value_net = RL2Network(cfg, obs_space, action_space, policy=False).to(device) \
            if cfg.slow_learner == "trpo" else None  # fmt: skip
        trained = self.value_net if self.value_net is not None else self.agent
        self.optimizer = torch.optim.Adam(trained.parameters(), lr=cfg.ppo.lr, eps=1e-5)
        self.generator = torch.Generator(device).manual_seed(seed + 1)  # tasks, env seeds, actions, minibatches
        self.training_tasks = TrainingTasks(env, cfg.task_source, self.generator)
        self.return_rms = RunningMeanStd(device=device)
        self.env_steps = 0
        self.iterations = 0
        # One value per iteration: the mean return of the episodes of its trials.
        self.episode_returns: list[float] = []

    def _draw(self, high: int) -> int:
        return int(torch.randint(0, high, (1,), generator=self.generator, device=self.device))

    @torch.no_grad()
    def collect(self) -> Rollout:
        """One trial per sub-env on new tasks, every sub-env stepped together."""
        env, agent, net = self.env, self.agent, self.agent.net
        self.env.set_tasks(self.training_tasks.draw())
        obs, _ = env.reset(seed=self._draw(2**31 - 1))
        n, T, L = env.num_envs, self.trial_steps, self.bptt_length
        state = agent.begin_task(n)
        in_trial = torch.ones(n, dtype=torch.bool, device=self.device)
        episodes = torch.zeros(n, dtype=torch.int64, device=self.device)
        steps: list[tuple[Tensor, ...]] = []
        hidden, values = [], []
        for t in range(T):
            if t % L == 0:
                hidden.append(state.hidden)
            x = agent.inputs(obs, state)
            dist, value, pending = net(x[None], state.hidden)
            state = replace(state, pending=pending)
            action = net.head.sample(dist, self.generator)
            log_prob = dist.log_prob(action)[0]
            env_action = net.head.to_env_action(action[0])
            obs, reward, terminated, truncated, _ = env.step(env_action)
            reward, done = reward.to(self.device, torch.float32), (terminated | truncated).to(self.device)
            episodes += (done & in_trial).long()
            trial_end = in_trial & (episodes == self.trial_episodes)
            steps.append((x, action[0], log_prob, reward * in_trial, in_trial, trial_end))
            if value is not None:
                values.append(value[0])
            state = state.advance(env_action, reward, done, in_trial)
            in_trial = in_trial & ~trial_end
        self.env_steps += n * T
        inputs, actions, log_probs, rewards, mask, ends = (torch.stack(k) for k in zip(*steps))
        value_steps = torch.stack(values) if values else None
        return Rollout(inputs, actions, log_probs, value_steps, rewards, mask, ends, torch.stack(hidden))

    def scaled_rewards(self, rollout: Rollout) -> Tensor:
        """Rewards for the advantages: divided by the running std of the discounted trial return
        when ``normalize_rewards`` (the network's inputs always keep the raw rewards)."""
        if not self.cfg.normalize_rewards:
            return rollout.rewards
        running = torch.zeros_like(rollout.rewards[0])
        returns = []
        for t in range(rollout.rewards.shape[0]):
            running = running * self.cfg.ppo.gamma + rollout.rewards[t]
            returns.append(running)
        self.return_rms.update(torch.stack(returns)[rollout.mask])
        return rollout.rewards / self.return_rms.std().float()

    def update(self, rollout: Rollout) -> dict[str, float]:
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

    def trpo_update(self, rollout: Rollout) -> dict[str, float]:
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
        self.episode_returns.append(float(trial_return.mean()) / self.trial_episodes)
        self.iterations += 1
        metrics["charts/trial_return"] = float(trial_return.mean())
        return metrics

    # ----- checkpointing ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Network, optimizer, generators, reward statistics and counters."""
        return {
            "agent": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "generators": {"agent": self.agent.generator.get_state(), "learner": self.generator.get_state()},
            "return_rms": self.return_rms.state_dict(),
            **({"value_net": self.value_net.state_dict()} if self.value_net is not None else {}),
            "env_steps": self.env_steps,
            "iterations": self.iterations,
            "episode_returns": self.episode_returns[-1000:],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore everything ``state_dict`` saved."""
        self.agent.load_state_dict(state["agent"])
        if self.value_net is not None:
            self.value_net.load_state_dict(state["value_net"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.agent.generator.set_state(state["generators"]["agent"])
        self.generator.set_state(state["generators"]["learner"])
        self.return_rms.load_state_dict(state["return_rms"])
        self.env_steps, self.iterations = state["env_steps"], state["iterations"]
        self.episode_returns = list(state["episode_returns"])


def make_rl2_trainer(cfg: RunConfig, device: torch.device) -> RL2Learner:
    """RL^2 on ``cfg.env``: ``num_envs`` sub-envs with same-step autoreset, one task each per trial."""
    rl2: RL2Config = cfg.agent_config
    env = make_training_env(cfg, rl2.num_envs, device)
    return RL2Learner(rl2, env, device, cfg.seed)
