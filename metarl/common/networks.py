"""The one network builder: linear layers with a named initialisation, MLPs of them, and activations by name.

Every agent builds its layers here, so an initialisation means the same thing everywhere:

- ``"default"``: PyTorch's ``nn.Linear`` initialisation (what PEARL and VariBAD's encoders use);
- ``"orthogonal"``: orthogonal weights of ``gain``, zero biases (CleanRL's ``layer_init``);
- ``"normc"``: OpenAI baselines' Gaussian rows scaled to norm ``gain``, zero biases;
- ``"xavier"``: Glorot-uniform weights, zero biases (the MAML reference policies).

Each layer is first built as ``nn.Linear`` and then re-initialised, so the random draws (and
hence every seeded result) are those of writing the layers out by hand.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn as nn
from torch import Tensor

Init = Literal["default", "orthogonal", "normc", "xavier"]
INITS: tuple[str, ...] = ("default", "orthogonal", "normc", "xavier")

#: Activations by config name. ``leaky-relu`` is VariBAD's reference spelling, ``leaky_relu`` torch's.
ACTIVATIONS: dict[str, type[nn.Module]] = {
    "tanh": nn.Tanh,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "leaky-relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
}


def activation_gain(activation: str) -> float:
    """``nn.init.calculate_gain`` for an activation of ``ACTIVATIONS`` (1 where torch has no gain for it)."""
    name = activation.replace("-", "_")
    return nn.init.calculate_gain(name) if name in ("tanh", "relu", "leaky_relu") else 1.0


def normc_(weight: Tensor, gain: float = 1.0) -> Tensor:
    """OpenAI baselines' normc initialisation, in place: Gaussian rows scaled to norm ``gain``."""
    with torch.no_grad():
        weight.normal_(0.0, 1.0)
        weight.mul_(gain / weight.square().sum(1, keepdim=True).sqrt())
    return weight


def linear(inputs: int, outputs: int, init: Init = "default", gain: float = 1.0) -> nn.Linear:
    """``nn.Linear(inputs, outputs)`` initialised as ``init`` says (module docstring)."""
    layer = nn.Linear(inputs, outputs)
    if init == "default":
        return layer
    if init == "orthogonal":
        nn.init.orthogonal_(layer.weight, gain)
    elif init == "normc":
        normc_(layer.weight, gain)
    elif init == "xavier":
        nn.init.xavier_uniform_(layer.weight, gain)
    else:
        raise ValueError(f"init={init!r} is not allowed; allowed: {', '.join(INITS)}")
    nn.init.zeros_(layer.bias)
    return layer


class MLP(nn.Sequential):
    """``Linear + activation`` per hidden width, then an optional output ``Linear``; ``out_features``
    is the width of what it returns (the input width when there are no layers)."""

    def __init__(
        self,
        inputs: int,
        widths: list[int] | tuple[int, ...],
        activation: str = "relu",
        init: Init = "default",
        gain: float = 1.0,
        outputs: int | None = None,
        output_init: Init = "default",
        output_gain: float = 1.0,
    ) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation={activation!r} is not allowed; allowed: {', '.join(ACTIVATIONS)}")
        layers: list[nn.Module] = []
        for width in widths:
            layers += [linear(inputs, width, init, gain), ACTIVATIONS[activation]()]
            inputs = width
        if outputs is not None:
            layers.append(linear(inputs, outputs, output_init, output_gain))
            inputs = outputs
        super().__init__(*layers)
        self.out_features = inputs
