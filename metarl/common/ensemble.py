"""Several MLPs of one shape evaluated as one batched network (e.g. SAC's twin Q-functions).

Each layer holds the members' weights stacked as ``(members, in, out)`` and runs one batched
matrix product (``torch.baddbmm``) instead of one small product per member: fewer kernels per
update, the same arithmetic. ``frozen=True`` evaluates with the weights detached, so a loss can
differentiate through the networks' inputs only (SAC's policy loss through Q) without toggling
``requires_grad`` on every update.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["EnsembleLinear", "EnsembleMLP"]


class EnsembleLinear(nn.Module):
    """``members`` linear layers ``in -> out`` applied to ``(members, batch, in)`` inputs."""

    def __init__(self, members: int, inputs: int, outputs: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(members, inputs, outputs))
        self.bias = nn.Parameter(torch.empty(members, 1, outputs))
        bound = inputs**-0.5  # nn.Linear's default initialisation, member by member
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor, frozen: bool = False) -> Tensor:
        weight, bias = (self.weight.detach(), self.bias.detach()) if frozen else (self.weight, self.bias)
        return torch.baddbmm(bias, x, weight)


class EnsembleMLP(nn.Module):
    """``members`` ReLU MLPs with ``layers`` hidden layers of width ``hidden``, evaluated together.

    ``forward(x)`` takes ``(batch, inputs)`` (every member sees the same input) or
    ``(members, batch, inputs)`` and returns ``(members, batch, outputs)``.
    """

    def __init__(self, members: int, inputs: int, hidden: int, outputs: int, layers: int = 3) -> None:
        super().__init__()
        dims = [inputs] + [hidden] * layers + [outputs]
        self.members = members
        self.layers = nn.ModuleList(EnsembleLinear(members, a, b) for a, b in zip(dims, dims[1:]))

    @classmethod
    def from_mlps(cls, mlps: Sequence[nn.Sequential]) -> EnsembleMLP:
        """The ensemble of ``mlps`` (``nn.Sequential`` of ``nn.Linear`` and ``nn.ReLU`` of one shape),
        with their weights: initialising separate MLPs first keeps a seed's initial weights."""
        linears = [[m for m in mlp if isinstance(m, nn.Linear)] for mlp in mlps]
        dims = [linears[0][0].in_features] + [layer.out_features for layer in linears[0]]
        if len(set(dims[1:-1])) > 1:
            raise ValueError(f"EnsembleMLP needs hidden layers of one width, got {dims}")
        ensemble = cls(len(mlps), dims[0], dims[1], dims[-1], layers=len(dims) - 2)
        with torch.no_grad():
            for i, layer in enumerate(ensemble.layers):
                layer.weight.copy_(torch.stack([member[i].weight.T for member in linears]))
                layer.bias.copy_(torch.stack([member[i].bias[None] for member in linears]))
        return ensemble

    def forward(self, x: Tensor, frozen: bool = False) -> Tensor:
        if x.dim() == 2:
            x = x.expand(self.members, *x.shape)
        for i, layer in enumerate(self.layers):
            x = layer(x, frozen)
            if i < len(self.layers) - 1:
                x = torch.relu(x)
        return x
