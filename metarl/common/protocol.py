"""The adaptation interface every meta-RL agent implements, batched over tasks on torch tensors.

One evaluation protocol serves every agent (see ``metarl.runner.evaluation``): for ``n`` tasks at once,

```
state = agent.begin_task(n_tasks)               # prior / empty context / zero hidden state
actions, state = agent.act(obs, state, deterministic)
state = agent.observe(state, transition)        # context, hidden state or belief after a step
state = agent.end_episode(state)                # e.g. PEARL posterior update, MAML inner step
```

The adaptation state is opaque to the caller: a tensor, a tuple, a dataclass, whatever the agent
needs. Row ``i`` of every batched tensor belongs to task ``i``.

Baselines that are given the true task (oracles: a task-conditioned policy, an SB3 model trained
with the task parameters in its observation) also implement ``TaskAware``: the evaluator calls
``agent.set_tasks(tasks)`` with the tasks of the ``n`` sub-envs (a ``metarl.core.tasks.TaskBatch``,
tensors on the env's device with leading dim ``n``) right before ``begin_task(n)``. Meta-learning
agents must not define ``set_tasks``: they have to infer the task from experience.

Optional attributes, recorded by ``metarl.runner.evaluation.evaluate_adaptation`` into the result (and
``adaptation.json``) so that the adaptation figure can mark where the agent adapts:

- ``adaptation_episodes: int | None``: episodes gathered per adaptation update, e.g. MAML's and
  CAVIA's ``inner_episodes`` (an inner step after episodes ``K, 2K, ...`` of the trial). ``None``
  or absent: the agent adapts after every episode or continuously (PEARL, RL^2, VariBAD).
- ``adaptation_updates: int | None``: the most such updates it takes in a trial (MAML's and
  CAVIA's ``test_inner_steps``); ``None`` or absent: no limit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from gymnasium import spaces

from metarl.core.tasks import TaskBatch

#: An agent's adaptation state; only the agent looks inside it.
AgentState = Any


@dataclass(frozen=True)
class Transition:
    """One lockstep step of ``n`` sub-envs, as seen by ``Agent.observe``.

    ``obs`` ``(n, *obs_shape)``, ``action`` ``(n, *action_shape)``, ``reward`` ``(n,)`` float,
    ``next_obs`` ``(n, *obs_shape)``, ``terminated`` and ``truncated`` ``(n,)`` bool, and
    ``valid`` ``(n,)`` bool: ``False`` for sub-envs whose episode had already ended before this
    step while others continue. Agents must ignore invalid rows; the evaluator fills them with
    padding (``next_obs == obs``, reward 0, ``terminated`` and ``truncated`` False).
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor
    truncated: torch.Tensor
    valid: torch.Tensor

    @property
    def done(self) -> torch.Tensor:
        """``(n,)`` bool: the step ended the sub-env's episode (terminated or truncated)."""
        return self.terminated | self.truncated


@runtime_checkable
class Agent(Protocol):
    """The adaptation interface of a meta-RL agent, batched over ``n`` tasks.

    An agent may also define a ``name`` attribute (a short string used in reports and plots);
    without one, reports use its class name (see ``agent_name``).
    """

    def begin_task(self, n_tasks: int) -> AgentState:
        """The adaptation state of ``n_tasks`` fresh tasks: a prior, an empty context, zeros."""
        ...

    def act(self, obs: torch.Tensor, state: AgentState, deterministic: bool) -> tuple[torch.Tensor, AgentState]:
        """Actions ``(n, *action_shape)`` for observations ``(n, *obs_shape)``, and the new state."""
        ...

    def observe(self, state: AgentState, transition: Transition) -> AgentState:
        """The state after a step (rows with ``transition.valid`` False must be left unchanged)."""
        ...

    def end_episode(self, state: AgentState) -> AgentState:
        """The state after an episode of every task ended (e.g. a posterior or inner-loop update)."""
        ...


@runtime_checkable
class TaskAware(Protocol):
    """An agent that is told the true tasks (an oracle); see the module docstring.

    ``set_tasks`` receives the tasks of the ``n`` sub-envs about to be adapted to, row ``i`` for
    sub-env ``i``, before ``begin_task(n)``; the agent keeps them for its ``act`` calls.
    """

    def set_tasks(self, tasks: TaskBatch) -> None:
        """Remember the tasks of the next ``begin_task``'s ``n`` sub-envs (dict of ``(n, ...)`` tensors)."""
        ...


def agent_name(agent: Agent) -> str:
    """The agent's ``name`` attribute when it has a non-empty one, else its class name."""
    name = getattr(agent, "name", None)
    return name if isinstance(name, str) and name else type(agent).__name__


class RandomAgent:
    """Uniformly random actions from a single-env action space, batched, from a seeded generator.

    The baseline that does not adapt: its state is ``None`` and ``deterministic`` is ignored (a
    random policy has no mode). ``action_space`` is the space of one sub-env (e.g.
    ``env.single_action_space``): a bounded ``Box``, ``Discrete`` or ``MultiDiscrete``.
    """

    name = "random"

    def __init__(self, action_space: spaces.Space, seed: int = 0, device: str | torch.device = "cpu") -> None:
        if isinstance(action_space, spaces.Box) and not action_space.is_bounded("both"):
            raise ValueError(f"RandomAgent needs a bounded Box action space, got {action_space!r}")
        if not isinstance(action_space, (spaces.Box, spaces.Discrete, spaces.MultiDiscrete)):
            raise TypeError(
                f"RandomAgent cannot sample from {action_space!r}; allowed: bounded Box, Discrete, MultiDiscrete"
            )
        self.action_space = action_space
        self.device = torch.device(device)
        self.generator = torch.Generator(self.device).manual_seed(int(seed))
        if isinstance(action_space, spaces.Box):
            self._low = torch.as_tensor(action_space.low, device=self.device)
            self._width = torch.as_tensor(action_space.high, device=self.device) - self._low
        elif isinstance(action_space, spaces.Discrete):
            self._low = torch.tensor(int(action_space.start), device=self.device)
            self._width = torch.tensor(int(action_space.n), device=self.device)
        else:
            self._low = torch.zeros(action_space.shape, dtype=torch.int64, device=self.device)
            self._width = torch.as_tensor(action_space.nvec.astype(np.int64), device=self.device)

    def begin_task(self, n_tasks: int) -> None:
        """No adaptation state."""
        return None

    def act(self, obs: torch.Tensor, state: None, deterministic: bool) -> tuple[torch.Tensor, None]:
        """``obs.shape[0]`` uniform draws: floats in ``[low, high)`` for a Box, int64 indices otherwise."""
        shape = (obs.shape[0], *self.action_space.shape)
        if isinstance(self.action_space, spaces.Box):
            u = torch.rand(shape, generator=self.generator, device=self.device, dtype=self._width.dtype)
            return self._low + u * self._width, None
        u = torch.rand(shape, generator=self.generator, device=self.device, dtype=torch.float64)
        # floor(u * width) is uniform over {0..width-1}; the clamp guards against rounding up.
        index = torch.minimum((u * self._width).long(), self._width - 1)
        return self._low + index, None

    def observe(self, state: None, transition: Transition) -> None:
        """Nothing to learn from."""
        return None

    def end_episode(self, state: None) -> None:
        """Nothing to update."""
        return None


class Trainer(Protocol):
    """What the shared loop needs from an agent's training code."""

    agent: Agent
    env_steps: int
    #: Returns of completed training episodes, appended as they end (``TrialStep.episode_return``);
    #: the loop logs the new ones as ``charts/episodic_return`` and keeps the last ``state.HISTORY``.
    episode_returns: list[float]

    def train_iteration(self) -> dict[str, float]:
        """Collect data and update; returns metrics keyed by TensorBoard tag."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue training (tensors and plain values only)."""

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict`` output."""
