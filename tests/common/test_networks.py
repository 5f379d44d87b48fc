"""metarl.common.networks: the one builder gives the layers (and the seeded weights) of writing them by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn

from metarl.common.networks import MLP, activation_gain, linear


def test_an_mlp_has_the_weights_of_the_same_layers_written_by_hand():
    torch.manual_seed(0)
    built = MLP(5, [8, 8], "tanh", "orthogonal", math.sqrt(2), outputs=3, output_init="orthogonal", output_gain=0.01)
    torch.manual_seed(0)
    by_hand = []
    for a, b, gain in ((5, 8, math.sqrt(2)), (8, 8, math.sqrt(2)), (8, 3, 0.01)):
        layer = nn.Linear(a, b)  # the default initialisation's draws come first, as in the builder
        nn.init.orthogonal_(layer.weight, gain)
        nn.init.zeros_(layer.bias)
        by_hand += [layer, nn.Tanh()]
    reference = nn.Sequential(*by_hand[:-1])
    assert built.state_dict().keys() == reference.state_dict().keys()  # checkpoints keep their keys
    for key, value in reference.state_dict().items():
        torch.testing.assert_close(built.state_dict()[key], value)
    assert built.out_features == 3 and MLP(4, []).out_features == 4


@pytest.mark.parametrize("init", ["orthogonal", "normc", "xavier"])
def test_each_initialisation_does_what_its_name_says(init):
    torch.manual_seed(1)
    layer = linear(16, 16, init, gain=2.0)
    w = layer.weight.detach()
    assert torch.count_nonzero(layer.bias) == 0
    if init == "orthogonal":
        torch.testing.assert_close(w @ w.T, 4.0 * torch.eye(16), atol=1e-4, rtol=0)
    elif init == "normc":
        torch.testing.assert_close(w.norm(dim=1), torch.full((16,), 2.0))
    else:
        bound = 2.0 * math.sqrt(6 / 32)
        assert w.abs().max() <= bound and w.abs().max() > 0.5 * bound


def test_the_default_initialisation_is_torchs():
    torch.manual_seed(2)
    built = linear(6, 4)
    torch.manual_seed(2)
    torch.testing.assert_close(built.weight, nn.Linear(6, 4).weight)


def test_unknown_names_are_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match="activation='swish' is not allowed; allowed: tanh, relu"):
        MLP(3, [4], "swish")
    with pytest.raises(ValueError, match="init='he' is not allowed; allowed: default, orthogonal, normc, xavier"):
        linear(3, 4, "he")
    assert activation_gain("leaky-relu") == nn.init.calculate_gain("leaky_relu")
