"""Hypernetwork layers: a linear layer generated per task from a task embedding, applied batched."""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torch import Tensor


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
