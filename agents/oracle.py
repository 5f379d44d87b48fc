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
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import torch
import torch.nn as nn
from gymnasium import spaces
from torch import Tensor
from torch.distributions import Distribution

from metarl.common.checks import check
from metarl.common.config import RunConfig
from metarl.common.onpolicy import ActionHead, PPOConfig, RunningMeanStd, clip_grad_and_step, gae, normalize, ppo_losses
from metarl.common.protocol import Transition
from metarl.common.training_env import TrainingTasks, TrainingTaskSource, make_training_env
from metarl.core.spaces import check_action_space
from metarl.core.tasks import TaskBatch

CONDITIONINGS = ("concat", "hypernetwork", "none")
ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}

#: Per-task conditioning of a network: a list of tensors with one row per task (the task features
#: for ``concat``, the generated layer parameters for ``hypernetwork``, nothing for ``none``).
Condition = list[Tensor]


# ----- config --------------------------------------------------------------------------------------
@dataclass
class OraclePPOConfig(PPOConfig):
    """``PPOConfig`` with CleanRL's ``ppo_continuous_action`` defaults: 10 epochs, 32 minibatches,
    value clipping at 0.2 (lr 3e-4, clip 0.2, gamma 0.99, GAE 0.95, no entropy bonus as PPOConfig)."""

    epochs: int = 10
    num_minibatches: int = 32
    value_clip: float | None = 0.2


@dataclass
class OracleConfig:
    """Oracle / multi-task PPO hyperparameters; defaults are CleanRL's ``ppo_continuous_action`` but for
    the batch (``num_envs`` sub-envs x ``num_steps``, where CleanRL steps one env 2048 times)."""

    conditioning: Literal["concat", "hypernetwork", "none"] = "concat"
    normalize_task: bool = True  # scale task parameters to [-1, 1] by the task space's finite bounds
    task_source: TrainingTaskSource = "distribution"
    num_envs: int = 64
    num_steps: int | None = None  # steps per sub-env per rollout; None: the env's horizon
    hidden_sizes: list[int] = field(default_factory=lambda: [64, 64])
    activation: Literal["tanh", "relu"] = "tanh"
    hyper_hidden: int = 64  # hypernetwork: width of the task-embedding MLP's hidden layer
    hyper_embed_dim: int = 32  # hypernetwork: size of the task embedding the layers are generated from
    init_log_std: float = 0.0
    normalize_obs: bool = True
    normalize_reward: bool = True
    clip_obs: float = 10.0
    clip_reward: float = 10.0
    anneal_lr: bool = True  # linear decay to 0 over train.total_steps
    adam_eps: float = 1e-5
    ppo: OraclePPOConfig = field(default_factory=OraclePPOConfig)

    def __post_init__(self) -> None:
        for name in ("num_envs", "hyper_hidden", "hyper_embed_dim"):
            check(getattr(self, name) >= 1, name, getattr(self, name), "an integer >= 1")
        check(self.num_steps is None or self.num_steps >= 1, "num_steps", self.num_steps, "null or an integer >= 1")
        check(len(self.hidden_sizes) > 0 and all(h >= 1 for h in self.hidden_sizes), "hidden_sizes",
              self.hidden_sizes, "a non-empty list of integers >= 1")  # fmt: skip
        for name in ("clip_obs", "clip_reward", "adam_eps"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")


# ----- task features -------------------------------------------------------------------------------
def parameter_bounds(name: str, space: spaces.Space) -> tuple[np.ndarray, np.ndarray]:
    """Flattened lower and upper bounds of one task parameter's space (integers: first and last value)."""
    if isinstance(space, spaces.Box):
        return space.low.reshape(-1).astype(np.float64), space.high.reshape(-1).astype(np.float64)
    if isinstance(space, spaces.Discrete):
        return np.array([space.start], np.float64), np.array([space.start + space.n - 1], np.float64)
    if isinstance(space, spaces.MultiDiscrete):
        return np.zeros(space.nvec.size), space.nvec.reshape(-1).astype(np.float64) - 1
    raise TypeError(f"task parameter {name!r} has the space {space!r}; allowed: Box, Discrete, MultiDiscrete")


class TaskFeatures(nn.Module):
    """A ``TaskBatch`` as one float vector per task: every parameter of ``task_space`` flattened
    (row-major) and concatenated in the task space's order.

    With ``normalize``, entries whose bounds are both finite (and distinct) are mapped affinely
    from ``[low, high]`` to ``[-1, 1]``; entries with an infinite bound are left as they are.
    """

    def __init__(self, task_space: spaces.Dict, normalize: bool = True) -> None:
        super().__init__()
        self.names = list(task_space.spaces)
        self.sizes = [int(np.prod(s.shape)) for s in task_space.spaces.values()]
        lows, highs = zip(*(parameter_bounds(n, s) for n, s in task_space.spaces.items()))
        low, high = torch.as_tensor(np.concatenate(lows)), torch.as_tensor(np.concatenate(highs))
        scaled = torch.isfinite(low) & torch.isfinite(high) & (high > low) & normalize
        # Where an entry is not scaled, low = -1 and high = 1 make the affine map the identity.
        self.register_buffer("low", torch.where(scaled, low, -1.0).float(), persistent=False)
        self.register_buffer("high", torch.where(scaled, high, 1.0).float(), persistent=False)

    @property
    def dim(self) -> int:
        """Width of the feature vector."""
        return sum(self.sizes)

    def forward(self, tasks: TaskBatch) -> Tensor:
        """Features ``(n, dim)`` (float32, on the buffers' device) of ``n`` tasks."""
        missing = [name for name in self.names if name not in tasks]
        if missing:
            raise ValueError(f"the tasks lack the parameters {missing}; got {sorted(tasks)}, the task space has {self.names}")
        n = next(iter(tasks.values())).shape[0]
        parts = []
        for name, size in zip(self.names, self.sizes):
            value = torch.as_tensor(tasks[name]).to(self.low.device, torch.float32).reshape(n, -1)
            if value.shape[1] != size:
                raise ValueError(f"task parameter {name!r} has {value.shape[1]} values per task; the task space has {size}")
            parts.append(value)
        x = torch.cat(parts, dim=1)
        return 2.0 * (x - self.low) / (self.high - self.low) - 1.0


# ----- networks ------------------------------------------------------------------------------------
def orthogonal_linear(inputs: int, outputs: int, gain: float) -> nn.Linear:
    """A linear layer with orthogonal weights of ``gain`` and zero biases (CleanRL's ``layer_init``)."""
    layer = nn.Linear(inputs, outputs)
    nn.init.orthogonal_(layer.weight, gain)
    nn.init.zeros_(layer.bias)
    return layer


def mlp_trunk(inputs: int, hidden_sizes: list[int], activation: str) -> nn.Sequential:
    """Hidden layers of ``hidden_sizes`` with orthogonal sqrt(2) init, each followed by ``activation``."""
    sizes = [inputs, *hidden_sizes]
    return nn.Sequential(
        *(m for a, b in zip(sizes, sizes[1:]) for m in (orthogonal_linear(a, b, math.sqrt(2)), ACTIVATIONS[activation]()))
    )


class ActorCritic(nn.Module):
    """What the two conditionings share: the action head and the value output on top of the trunks.

    Subclasses define ``condition(features) -> Condition`` (per task, differentiable) and
    ``trunks(obs, condition) -> (actor_features, critic_features)``. Observations are ``(..., n,
    obs_dim)``: the row of sub-env ``i`` (second-to-last dimension) uses row ``i`` of every tensor
    of ``condition``, so a rollout ``(T, n, obs_dim)`` is evaluated without copying per-task
    parameters per step.
    """

    def __init__(self, hidden: int, action_space: spaces.Space, init_log_std: float) -> None:
        super().__init__()
        self.head = ActionHead(hidden, action_space, init_log_std)  # orthogonal gain 0.01 (CleanRL)
        self.value = orthogonal_linear(hidden, 1, 1.0)

    def condition(self, features: Tensor) -> Condition:
        raise NotImplementedError

    def trunks(self, obs: Tensor, condition: Condition) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def forward(self, obs: Tensor, condition: Condition) -> tuple[Distribution, Tensor]:
        """The action distribution and the value ``(..., n)`` of observations ``(..., n, obs_dim)``."""
        actor, critic = self.trunks(obs, condition)
        return self.head(actor), self.value(critic).squeeze(-1)


class ConcatActorCritic(ActorCritic):
    """Separate actor and critic MLPs on ``[obs, task features]`` (``task_dim`` 0: on ``obs`` alone)."""

    def __init__(self, obs_dim: int, task_dim: int, action_space: spaces.Space, hidden_sizes: list[int],
                 activation: str, init_log_std: float) -> None:  # fmt: skip
        super().__init__(hidden_sizes[-1], action_space, init_log_std)
        self.task_dim = task_dim
        self.actor = mlp_trunk(obs_dim + task_dim, hidden_sizes, activation)
        self.critic = mlp_trunk(obs_dim + task_dim, hidden_sizes, activation)

    def condition(self, features: Tensor) -> Condition:
        """The features themselves (nothing when the network takes no task information)."""
        return [features] if self.task_dim else []

    def trunks(self, obs: Tensor, condition: Condition) -> tuple[Tensor, Tensor]:
        x = torch.cat([obs, *(c.expand(*obs.shape[:-1], c.shape[-1]) for c in condition)], dim=-1)
        return self.actor(x), self.critic(x)


class HyperLinear(nn.Module):
    """Generates a linear layer ``inputs -> outputs`` per task from a task embedding ``e`` ``(n, k)``.

    ``W(e) = reshape(A e + a)`` and ``b(e) = B e + c``. Hyperfan-in init with generated biases
    (Chang et al. 2020, section 4): the embedding is RMS-normalised (``sum_k e_k^2 = k``, see
    ``HyperActorCritic.embed``), so ``A ~ N(0, gain^2 / (2 inputs k))`` and ``B ~ N(0, gain^2 /
    (2 k))`` give, for every task, weights of variance ``gain^2 / (2 inputs)`` and biases of
    variance ``gain^2 / 2``: for unit-variance inputs, the target layer's pre-activations have the
    variance ``gain^2`` of a standard fan-in init, half of it from the (task-dependent) biases, so
    the task reaches the policy even where the observation is zero. ``a`` and ``c`` start at zero.
    """

    def __init__(self, embed_dim: int, inputs: int, outputs: int, gain: float) -> None:
        super().__init__()
        self.inputs, self.outputs = inputs, outputs
        self.weight = nn.Linear(embed_dim, outputs * inputs)
        self.bias = nn.Linear(embed_dim, outputs)
        nn.init.normal_(self.weight.weight, std=gain / math.sqrt(2 * inputs * embed_dim))
        nn.init.normal_(self.bias.weight, std=gain / math.sqrt(2 * embed_dim))
        nn.init.zeros_(self.weight.bias)
        nn.init.zeros_(self.bias.bias)

    def forward(self, embedding: Tensor) -> tuple[Tensor, Tensor]:
        """Weights ``(n, outputs, inputs)`` and biases ``(n, outputs)`` of ``n`` tasks."""
        weight = self.weight(embedding).view(-1, self.outputs, self.inputs)
        return weight, self.bias(embedding)


def apply_generated(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor:
    """``x`` ``(..., n, inputs)``: row ``i`` of the second-to-last dimension through its own layer
    ``weight[i]`` ``(outputs, inputs)``, ``bias[i]``; returns ``(..., n, outputs)``."""
    return torch.einsum("...ni,noi->...no", x, weight) + bias


class HyperActorCritic(ActorCritic):
    """Actor and critic trunks whose hidden layers a hypernetwork generates from the task features.

    One task-embedding MLP (``task_dim -> hyper_hidden -> ReLU -> hyper_embed_dim``, then RMS
    normalisation) is shared by the actor and the critic; each generated layer has its own
    ``HyperLinear`` head. ``condition`` returns, per task, the weights and biases of the actor's
    hidden layers followed by the critic's.
    """

    def __init__(self, obs_dim: int, task_dim: int, action_space: spaces.Space, hidden_sizes: list[int],
                 activation: str, init_log_std: float, hyper_hidden: int, hyper_embed_dim: int) -> None:  # fmt: skip
        super().__init__(hidden_sizes[-1], action_space, init_log_std)
        self.embedding = nn.Sequential(nn.Linear(task_dim, hyper_hidden), nn.ReLU(), nn.Linear(hyper_hidden, hyper_embed_dim))
        sizes = [obs_dim, *hidden_sizes]
        pairs = list(zip(sizes, sizes[1:]))
        self.actor_layers = nn.ModuleList(HyperLinear(hyper_embed_dim, a, b, math.sqrt(2)) for a, b in pairs)
        self.critic_layers = nn.ModuleList(HyperLinear(hyper_embed_dim, a, b, math.sqrt(2)) for a, b in pairs)
        self.activation = ACTIVATIONS[activation]()

    def embed(self, features: Tensor) -> Tensor:
        """The RMS-normalised task embedding ``(n, hyper_embed_dim)``: every row has mean square 1."""
        e = self.embedding(features)
        return e * torch.rsqrt(e.square().mean(-1, keepdim=True) + 1e-8)

    def condition(self, features: Tensor) -> Condition:
        """Per task: weight and bias of each actor hidden layer, then of each critic hidden layer."""
        e = self.embed(features)
        return [t for layer in (*self.actor_layers, *self.critic_layers) for t in layer(e)]

    def trunks(self, obs: Tensor, condition: Condition) -> tuple[Tensor, Tensor]:
        depth = 2 * len(self.actor_layers)
        return self._trunk(obs, condition[:depth]), self._trunk(obs, condition[depth:])

    def _trunk(self, x: Tensor, params: Condition) -> Tensor:
        for weight, bias in zip(params[0::2], params[1::2]):
            x = self.activation(apply_generated(x, weight, bias))
        return x


def build_network(cfg: OracleConfig, obs_dim: int, task_dim: int, action_space: spaces.Space) -> ActorCritic:
    """The actor-critic of ``cfg.conditioning``."""
    if cfg.conditioning == "hypernetwork":
        return HyperActorCritic(obs_dim, task_dim, action_space, cfg.hidden_sizes, cfg.activation, cfg.init_log_std,
                                cfg.hyper_hidden, cfg.hyper_embed_dim)  # fmt: skip
    if cfg.conditioning in ("concat", "none"):
        used = task_dim if cfg.conditioning == "concat" else 0
        return ConcatActorCritic(obs_dim, used, action_space, cfg.hidden_sizes, cfg.activation, cfg.init_log_std)
    raise ValueError(f"conditioning={cfg.conditioning!r} is unknown; allowed: {list(CONDITIONINGS)}")


# ----- agents --------------------------------------------------------------------------------------
def policy_action_space(space: spaces.Space) -> spaces.Space:
    """The space the policy acts in: ``[-1, 1]^d`` for a bounded Box (rescaled to the env's bounds), else ``space``."""
    check_action_space(space)
    if isinstance(space, spaces.Box):
        return spaces.Box(-1.0, 1.0, space.shape, np.float32)
    return space


class PolicyAgent(nn.Module):
    """A PPO-trained policy behind the adaptation interface, without task information.

    It does not adapt: its state is the (empty) per-task conditioning, unchanged by ``observe``
    and ``end_episode``. Observations are normalised with the statistics gathered in training
    (frozen here); ``deterministic`` acts with the mode, else samples from ``generator``.
    """

    name = "ppo-multitask"

    def __init__(self, net: ActorCritic, features: TaskFeatures, obs_space: spaces.Space, action_space: spaces.Space,
                 normalize_obs: bool, clip_obs: float, device: torch.device, seed: int) -> None:  # fmt: skip
        super().__init__()
        if not isinstance(obs_space, spaces.Box):
            raise ValueError(f"the oracle needs a Box observation space, got {obs_space!r}")
        self.net, self.features = net, features
        self.env_action_space = action_space
        self.obs_rms = RunningMeanStd(obs_space.shape, device) if normalize_obs else None
        self.clip_obs = clip_obs
        if isinstance(action_space, spaces.Box):
            low, high = (torch.as_tensor(b, dtype=torch.float32) for b in (action_space.low, action_space.high))
            self.register_buffer("action_center", (high + low) / 2)
            self.register_buffer("action_half_width", (high - low) / 2)
        self.device = device
        self.to(device)
        self.generator = torch.Generator(device).manual_seed(seed)

    def observation(self, obs: Tensor, update: bool = False) -> Tensor:
        """Policy input ``(n, obs_dim)`` float32: ``obs`` flattened and normalised (after folding
        it into the running statistics when ``update``), clipped to ``+-clip_obs``."""
        x = obs.to(self.device).flatten(1)
        if self.obs_rms is None:
            return x.float()
        if update:
            self.obs_rms.update(x)
        x = (x.double() - self.obs_rms.mean.flatten()) / self.obs_rms.std().flatten()
        return x.clamp(-self.clip_obs, self.clip_obs).float()

    def to_env_action(self, action: Tensor) -> Tensor:
        """Policy actions (clipped to [-1, 1] for a Box) in the env's action space."""
        action = self.net.head.to_env_action(action)
        if isinstance(self.env_action_space, spaces.Box):
            return self.action_center + self.action_half_width * action
        return action

    def begin_task(self, n_tasks: int) -> Condition:
        """No task information: an empty conditioning."""
        return []

    @torch.no_grad()
    def act(self, obs: Tensor, state: Condition, deterministic: bool = True) -> tuple[Tensor, Condition]:
        """Actions for ``obs`` ``(n, *obs_shape)``: the mode, or a sample from the agent's generator."""
        dist, _ = self.net(self.observation(obs), state)
        action = self.net.head.mode(dist) if deterministic else self.net.head.sample(dist, self.generator)
        return self.to_env_action(action), state

    def observe(self, state: Condition, transition: Transition) -> Condition:
        """Nothing to adapt."""
        return state

    def end_episode(self, state: Condition) -> Condition:
        """Nothing to adapt."""
        return state


class OracleAgent(PolicyAgent):
    """The oracle: a ``PolicyAgent`` conditioned on the true tasks, given by ``set_tasks``
    (``metarl.common.protocol.TaskAware``; the evaluator calls it before ``begin_task``)."""

    def __init__(self, *args: Any, conditioning: str = "concat", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.name = f"oracle-{conditioning}"
        self._task_features: Tensor | None = None

    def set_tasks(self, tasks: TaskBatch) -> None:
        """Remember the tasks of the next ``begin_task``'s sub-envs (row ``i`` for sub-env ``i``)."""
        self._task_features = self.features(tasks)

    @torch.no_grad()
    def begin_task(self, n_tasks: int) -> Condition:
        """The conditioning of the ``n_tasks`` tasks given to ``set_tasks``."""
        if self._task_features is None:
            raise RuntimeError(f"{self.name} needs the true tasks: call set_tasks(tasks) before begin_task "
                               "(metarl.runner.evaluation.run_adaptation does)")  # fmt: skip
        if self._task_features.shape[0] != n_tasks:
            raise ValueError(f"begin_task({n_tasks}) after set_tasks with {self._task_features.shape[0]} tasks; "
                             "give one task per sub-env")  # fmt: skip
        return self.net.condition(self._task_features)


# ----- training ------------------------------------------------------------------------------------
@dataclass
class Rollout:
    """One rollout, time-major ``(T, N, ...)``, with its advantages and value targets, and the
    features ``(N, task_dim)`` of the sub-envs' tasks."""

    obs: Tensor
    actions: Tensor
    log_probs: Tensor
    values: Tensor
    advantages: Tensor
    returns: Tensor
    features: Tensor


class RewardScaler:
    """Rewards divided by the running standard deviation of the discounted return, then clipped
    (gymnasium's ``NormalizeReward`` as CleanRL uses it: the return restarts after each episode)."""

    def __init__(self, num_envs: int, gamma: float, clip: float, device: torch.device) -> None:
        self.gamma, self.clip = gamma, clip
        self.rms = RunningMeanStd((), device)
        self.discounted = torch.zeros(num_envs, dtype=torch.float64, device=device)

    def reset(self) -> None:
        """Fresh episodes in every sub-env."""
        self.discounted.zero_()

    def __call__(self, reward: Tensor, done: Tensor) -> Tensor:
        self.discounted = self.discounted * self.gamma + reward
        self.rms.update(self.discounted)
        self.discounted = torch.where(done, 0.0, self.discounted)
        return (reward / self.rms.std()).clamp(-self.clip, self.clip).float()


def stratified_minibatches(num_steps: int, num_envs: int, num_minibatches: int, generator: torch.Generator,
                           device: torch.device) -> list[Tensor]:  # fmt: skip
    """Random minibatches of a ``(num_steps, num_envs)`` rollout as time indices ``(t_k, num_envs)``:
    column ``i`` holds steps of sub-env ``i``, shuffled independently per sub-env and split into
    ``min(num_minibatches, num_steps)`` near-equal parts. Every minibatch thus holds every sub-env,
    so per-task parameters (generated weights) are computed once per minibatch, never copied per step."""
    order = torch.rand(num_steps, num_envs, generator=generator, device=device).argsort(0)
    return list(order.tensor_split(min(num_minibatches, num_steps), dim=0))


class OracleTrainer:
    """PPO for the oracle (or the ``none`` baseline) on a batched env; see the module docstring."""

    def __init__(self, cfg: OracleConfig, env: Any, total_steps: int, device: torch.device, seed: int) -> None:
        self.cfg, self.env, self.device, self.total_steps = cfg, env, device, total_steps
        self.num_steps = cfg.num_steps or env.max_episode_steps
        if self.num_steps is None:
            raise ValueError("the env has no time limit (max_episode_steps=None); set oracle.num_steps")
        obs_space = env.single_observation_space
        obs_dim = int(np.prod(obs_space.shape))
        features = TaskFeatures(env.task_space, cfg.normalize_task)
        net = build_network(cfg, obs_dim, features.dim, policy_action_space(env.single_action_space))
        common = (net, features, obs_space, env.single_action_space, cfg.normalize_obs, cfg.clip_obs, device, seed)
        self.agent: PolicyAgent = (
            PolicyAgent(*common) if cfg.conditioning == "none" else OracleAgent(*common, conditioning=cfg.conditioning)
        )
        self.optimizer = torch.optim.Adam(self.agent.net.parameters(), lr=cfg.ppo.lr, eps=cfg.adam_eps)
        self.reward_scaler = RewardScaler(env.num_envs, cfg.ppo.gamma, cfg.clip_reward, device) if cfg.normalize_reward else None
        self.generator = torch.Generator(device).manual_seed(seed + 1)
        self.training_tasks = TrainingTasks(env, cfg.task_source, self.generator)
        self.env_steps = 0
        self.iterations = 0
        self.updates = 0
        self.episode_returns: list[float] = []

    # ----- data collection -------------------------------------------------------------------------
    def _seed(self) -> int:
        return int(torch.randint(0, 2**31 - 1, (1,), generator=self.generator, device=self.device))

    @torch.no_grad()
    def collect(self) -> Rollout:
        """``num_steps`` steps of every sub-env from fresh episodes on freshly drawn tasks."""
        env, agent, net, ppo = self.env, self.agent, self.agent.net, self.cfg.ppo
        env.set_tasks(self.training_tasks.draw())
        features = agent.features(env.get_tasks())
        condition = net.condition(features)
        obs, _ = env.reset(seed=self._seed())
        if self.reward_scaler is not None:
            self.reward_scaler.reset()
        n = env.num_envs
        running = torch.zeros(n, dtype=torch.float64, device=self.device)
        steps: dict[str, list[Tensor]] = defaultdict(list)
        for _ in range(self.num_steps):
            x = agent.observation(obs, update=True)
            dist, value = net(x, condition)
            action = net.head.sample(dist, self.generator)
            obs, reward, terminated, truncated, info = env.step(agent.to_env_action(action))
            reward, terminated, truncated = (t.to(self.device) for t in (reward, terminated, truncated))
            done = terminated | truncated
            running += reward
            steps["finished"].append(torch.where(done, running, torch.nan))
            running = torch.where(done, 0.0, running)
            scaled = self.reward_scaler(reward, done) if self.reward_scaler is not None else reward.float()
            cut = truncated & ~terminated
            if bool(cut.any()):  # proper time limits: bootstrap a truncated episode from its last state
                _, final_value = net(agent.observation(info["final_obs"]), condition)
                scaled = scaled + ppo.gamma * final_value * cut
            for key, t in (("obs", x), ("actions", action), ("log_probs", dist.log_prob(action)), ("values", value),
                           ("rewards", scaled), ("dones", done)):  # fmt: skip
                steps[key].append(t)
        _, last_value = net(agent.observation(obs), condition)
        batch = {k: torch.stack(v) for k, v in steps.items()}
        advantages, returns = gae(batch["rewards"], batch["values"], batch["dones"], last_value, ppo.gamma, ppo.gae_lambda)
        finished = batch["finished"]
        self.episode_returns.extend(finished[~finished.isnan()].tolist())
        self.env_steps += self.num_steps * n
        return Rollout(batch["obs"], batch["actions"], batch["log_probs"], batch["values"], advantages, returns, features)

    # ----- update --------------------------------------------------------------------------------
    def update(self, rollout: Rollout) -> dict[str, float]:
        """PPO epochs over minibatches that each hold an equal, random share of every sub-env's steps."""
        ppo, net = self.cfg.ppo, self.agent.net
        T, n = rollout.values.shape
        collected_before = self.env_steps - T * n  # as CleanRL: the fraction left when the rollout began
        lr = ppo.lr * max(0.0, 1.0 - collected_before / self.total_steps) if self.cfg.anneal_lr else ppo.lr
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        sums: dict[str, float] = defaultdict(float)
        count = 0
        columns = torch.arange(n, device=self.device)
        for _ in range(ppo.epochs):
            for steps in stratified_minibatches(T, n, ppo.num_minibatches, self.generator, self.device):
                mb = {k: getattr(rollout, k)[steps, columns] for k in ("obs", "actions", "log_probs", "values", "advantages", "returns")}
                dist, value = net(mb["obs"], net.condition(rollout.features))
                advantages = normalize(mb["advantages"]) if ppo.normalize_advantages else mb["advantages"]
                losses = ppo_losses(ppo, dist.log_prob(mb["actions"]), mb["log_probs"], advantages, dist.entropy(), value,
                                    mb["values"], mb["returns"])  # fmt: skip
                grad_norm = clip_grad_and_step(self.optimizer, losses.total(ppo), ppo.max_grad_norm)
                for key, v in {**losses.metrics(), "losses/grad_norm": grad_norm}.items():
                    sums[key] += v
                count += 1
                self.updates += 1
        metrics = {k: v / count for k, v in sums.items()}
        residual = (rollout.returns - rollout.values).var() / rollout.returns.var().clamp(min=1e-8)
        metrics["losses/explained_variance"] = float(1.0 - residual)
        metrics["charts/learning_rate"] = lr
        return metrics

    def train_iteration(self) -> dict[str, float]:
        """One rollout and its PPO update."""
        metrics = self.update(self.collect())
        self.iterations += 1
        return metrics

    # ----- checkpointing -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Networks, optimizer, normalisation statistics, generators and counters."""
        return {
            "agent": self.agent.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "obs_rms": self.agent.obs_rms.state_dict() if self.agent.obs_rms is not None else None,
            "reward_rms": self.reward_scaler.rms.state_dict() if self.reward_scaler is not None else None,
            "generators": {"trainer": self.generator.get_state(), "agent": self.agent.generator.get_state()},
            "env_steps": self.env_steps,
            "iterations": self.iterations,
            "updates": self.updates,
            "episode_returns": self.episode_returns[-1000:],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore everything ``state_dict`` saved."""
        self.agent.load_state_dict(state["agent"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.agent.obs_rms is not None:
            self.agent.obs_rms.load_state_dict(state["obs_rms"])
        if self.reward_scaler is not None:
            self.reward_scaler.rms.load_state_dict(state["reward_rms"])
        self.generator.set_state(state["generators"]["trainer"])
        self.agent.generator.set_state(state["generators"]["agent"])
        self.env_steps, self.iterations, self.updates = state["env_steps"], state["iterations"], state["updates"]
        self.episode_returns = list(state["episode_returns"])


def make_oracle_trainer(cfg: RunConfig, device: torch.device) -> OracleTrainer:
    """The oracle (or the ``none`` baseline) on ``cfg.env``: ``num_envs`` sub-envs on ``device``."""
    oracle: OracleConfig = cfg.agent_config
    env = make_training_env(cfg, oracle.num_envs, device)
    return OracleTrainer(oracle, env, cfg.train.total_steps, device, cfg.seed)
