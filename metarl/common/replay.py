"""Replay storage: per-task transition ring buffers, all tasks in one tensor (the off-policy
agents), and ``TrialBuffer``, a ring buffer of whole trials (VariBAD's VAE)."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


class MultiTaskReplay:
    """Per-task ring buffers of transitions, stored as ``(num_tasks, capacity, ...)`` tensors.

    ``add`` writes a batch of transitions from many sub-envs at once (several rows may belong to
    the same task); ``sample`` draws a ``(len(task_ids), batch)`` block. No Python loop over tasks.
    """

    FIELDS = ("obs", "action", "reward", "next_obs", "terminated")

    def __init__(self, num_tasks: int, capacity: int, obs_dim: int, action_dim: int, device: torch.device) -> None:
        if num_tasks < 1 or capacity < 1:
            raise ValueError(f"num_tasks and capacity must be >= 1, got {num_tasks} and {capacity}")
        self.num_tasks, self.capacity, self.device = num_tasks, capacity, device
        shapes = {"obs": (obs_dim,), "action": (action_dim,), "reward": (), "next_obs": (obs_dim,), "terminated": ()}
        self.data = {k: torch.zeros(num_tasks, capacity, *s, device=device) for k, s in shapes.items()}
        self.size = torch.zeros(num_tasks, dtype=torch.int64, device=device)
        self.ptr = torch.zeros(num_tasks, dtype=torch.int64, device=device)

    def add(self, task_ids: torch.Tensor, **transition: torch.Tensor) -> None:
        """Append one transition per row; ``task_ids`` ``(n,)`` says which task each row belongs to."""
        one_hot = F.one_hot(task_ids, self.num_tasks)
        # Rank of each row among the rows of its task, so rows of one task get distinct slots.
        rank = (one_hot.cumsum(0) - 1).gather(1, task_ids[:, None]).squeeze(1)
        slot = (self.ptr[task_ids] + rank) % self.capacity
        for key in self.FIELDS:
            self.data[key][task_ids, slot] = transition[key].to(self.data[key].dtype)
        added = one_hot.sum(0)
        self.ptr = (self.ptr + added) % self.capacity
        self.size = torch.clamp(self.size + added, max=self.capacity)

    def clear(self, task_ids: torch.Tensor) -> None:
        """Empty the buffers of ``task_ids`` (the storage is reused)."""
        self.size[task_ids] = 0
        self.ptr[task_ids] = 0

    def sample(self, task_ids: torch.Tensor, batch: int, generator: torch.Generator | None = None) -> dict[str, torch.Tensor]:
        """``batch`` uniform transitions of each task in ``task_ids``: tensors ``(len(task_ids), batch, ...)``."""
        sizes = self.size[task_ids]
        if bool((sizes == 0).any()):
            raise ValueError(f"cannot sample from empty task buffers {task_ids[sizes == 0].tolist()}")
        u = torch.rand(len(task_ids), batch, generator=generator, device=self.device)
        index = (u * sizes[:, None]).long()
        rows = task_ids[:, None]
        return {k: v[rows, index] for k, v in self.data.items()}

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to restore the buffer (only the filled part of each task's storage)."""
        filled = int(self.size.max())
        return {"data": {k: v[:, :filled].clone() for k, v in self.data.items()}, "size": self.size, "ptr": self.ptr}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from ``state_dict`` output."""
        for k, v in state["data"].items():
            self.data[k][:, : v.shape[1]] = v.to(self.device)
        self.size.copy_(state["size"])
        self.ptr.copy_(state["ptr"])


class TrialBuffer:
    """VariBAD's VAE buffer: a ring of the ``capacity`` most recent whole trials (the repo's ``RolloutStorageVAE``).

    Rows are trials: sequence fields are stored ``(capacity, T, ...)`` and zero past a trial's
    ``length``. Storage grows with the content (doubling) up to ``capacity``, so short runs and
    their checkpoints stay small.
    """

    SEQUENCES = ("prev_state", "action", "reward", "next_state")

    def __init__(self, capacity: int, device: torch.device) -> None:
        self.capacity, self.device = capacity, device
        self.data: dict[str, torch.Tensor] = {}
        self.size = 0
        self.pos = 0

    def add(self, trial: dict[str, torch.Tensor]) -> None:
        """Insert a batch of trials: sequence fields ``(T, N, ...)``, the others ``(N, ...)``."""
        rows = {k: v.transpose(0, 1) if k in self.SEQUENCES else v for k, v in trial.items()}
        n = rows["length"].shape[0]
        index = (self.pos + torch.arange(n, device=self.device)) % self.capacity
        self._grow(min(self.capacity, self.size + n), rows)
        for k, v in rows.items():
            self.data[k][index] = v
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.capacity, self.size + n)

    def _grow(self, needed: int, like: dict[str, torch.Tensor]) -> None:
        allocated = next(iter(self.data.values())).shape[0] if self.data else 0
        if allocated >= needed:
            return
        rows = min(self.capacity, max(needed, 2 * allocated))
        for k, v in like.items():
            grown = torch.zeros(rows, *v.shape[1:], dtype=v.dtype, device=self.device)
            if k in self.data:
                grown[:allocated] = self.data[k]
            self.data[k] = grown

    def sample(self, batch: int, generator: torch.Generator) -> dict[str, torch.Tensor]:
        """Up to ``batch`` distinct trials, uniformly; sequence fields time-major ``(T, B, ...)``."""
        index = torch.randperm(self.size, generator=generator, device=self.device)[:batch]
        return {k: v[index].transpose(0, 1) if k in self.SEQUENCES else v[index] for k, v in self.data.items()}

    def state_dict(self) -> dict[str, Any]:
        """The stored trials (only the filled rows), size and insert position."""
        return {"data": {k: v[: self.size].clone() for k, v in self.data.items()}, "size": self.size, "pos": self.pos}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore ``state_dict`` output."""
        self.data = {k: v.to(self.device) for k, v in state["data"].items()}
        self.size, self.pos = state["size"], state["pos"]
