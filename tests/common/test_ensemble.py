"""The batched ensemble of MLPs equals its members evaluated one by one (SAC's twin Q-functions)."""

import pytest
import torch
from torch import nn

from metarl.common.ensemble import EnsembleMLP


def mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, outputs))  # fmt: skip


def test_an_ensemble_computes_what_its_members_compute_with_the_same_gradients():
    torch.manual_seed(0)
    members = [mlp(7, 16, 2), mlp(7, 16, 2)]
    ensemble = EnsembleMLP.from_mlps(members)
    x = torch.randn(32, 7)
    out = ensemble(x)
    assert out.shape == (2, 32, 2)
    for i, member in enumerate(members):
        torch.testing.assert_close(out[i], member(x), rtol=1e-6, atol=1e-6)
    out.square().sum().backward()
    sum(m(x).square().sum() for m in members).backward()
    for i, layer in enumerate(ensemble.layers):
        for k, member in enumerate(members):
            torch.testing.assert_close(layer.weight.grad[k], member[2 * i].weight.grad.T, rtol=1e-5, atol=1e-6)
            torch.testing.assert_close(layer.bias.grad[k, 0], member[2 * i].bias.grad, rtol=1e-5, atol=1e-6)


def test_frozen_evaluation_passes_gradients_to_the_input_only():
    ensemble = EnsembleMLP(2, 3, 8, 1)
    x = torch.randn(5, 3, requires_grad=True)
    ensemble(x, frozen=True).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in ensemble.parameters())


def test_from_mlps_keeps_the_seed_s_initial_weights():
    torch.manual_seed(3)
    a = EnsembleMLP.from_mlps([mlp(4, 8, 1), mlp(4, 8, 1)])
    torch.manual_seed(3)
    first, second = mlp(4, 8, 1), mlp(4, 8, 1)
    torch.testing.assert_close(a.layers[0].weight[1], second[0].weight.T, rtol=0, atol=0)
    torch.testing.assert_close(a.layers[2].bias[0, 0], first[4].bias, rtol=0, atol=0)
    with pytest.raises(ValueError, match="hidden layers of one width"):
        EnsembleMLP.from_mlps([nn.Sequential(nn.Linear(2, 4), nn.ReLU(), nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))])
