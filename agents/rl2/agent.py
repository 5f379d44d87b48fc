"""RL^2's adaptation interface: the GRU's hidden state and the previous step carried across a trial."""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
import torch.nn as nn
from gymnasium import spaces
from metarl.agents.rl2.config import RL2Config
from metarl.agents.rl2.networks import RL2Network
from torch import Tensor

from metarl.common.protocol import Transition
from metarl.common.trials import trial_input
from metarl.core.spaces import check_action_space


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
