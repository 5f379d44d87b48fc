"""metarl.common.state: one declaration saves and restores a learner's state, in place."""

from __future__ import annotations

import io

import pytest
import torch
import torch.nn as nn

from metarl.common.normalization import RunningMeanStd
from metarl.common.state import HISTORY, Checkpointable


class Toy(Checkpointable):
    state_fields = {
        "net": "net",
        "optimizers": "optimizers",
        "stats": "stats",
        "missing": "absent",
        "generators/learner": "generator",
        "generators/net": "holder.generator",
        "steps": "steps",
        "returns": "returns",
    }

    def __init__(self, seed: int) -> None:
        torch.manual_seed(seed)
        self.net = nn.Linear(3, 2)
        self.optimizers = {"adam": torch.optim.Adam(self.net.parameters(), lr=0.1)}
        self.stats = RunningMeanStd()
        self.absent = None  # an option this configuration does not have
        self.generator = torch.Generator().manual_seed(seed)
        self.holder = type("Holder", (), {})()
        self.holder.generator = torch.Generator().manual_seed(seed + 1)
        self.steps = 0
        self.returns: list[float] = []

    def train(self) -> None:
        self.optimizers["adam"].zero_grad()
        loss = self.net(torch.randn(4, 3, generator=self.generator)).square().mean()
        loss.backward()
        self.optimizers["adam"].step()
        self.stats.update(torch.randn(5, generator=self.holder.generator))
        self.steps += 4
        self.returns.extend(float(x) for x in range(HISTORY + 5))


def round_trip(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)  # nothing but tensors and plain values


def test_a_declared_state_restores_a_fresh_learner_exactly():
    trained = Toy(0)
    trained.train()
    state = round_trip(trained.state_dict())
    assert set(state) == {"net", "optimizers", "stats", "missing", "generators", "steps", "returns"}
    assert state["missing"] is None and len(state["returns"]) == HISTORY  # histories keep their tail
    fresh = Toy(1)
    net = fresh.net
    fresh.load_state_dict(state)
    assert fresh.net is net  # restored in place, not replaced
    assert fresh.steps == 4 and fresh.returns == trained.returns[-HISTORY:]
    trained.train()
    fresh.train()  # the same next step: weights, Adam moments, statistics and both RNG streams
    torch.testing.assert_close(fresh.net.weight, trained.net.weight)
    torch.testing.assert_close(fresh.stats.mean, trained.stats.mean)


def test_a_checkpoint_missing_a_key_is_refused_by_name():
    state = Toy(0).state_dict()
    del state["generators"]["net"]
    with pytest.raises(KeyError, match="generators/net"):
        Toy(0).load_state_dict(state)
    state = Toy(0).state_dict()
    state["optimizers"] = {"sgd": state["optimizers"]["adam"]}
    with pytest.raises(KeyError, match=r"optimizers.*\['adam'\]"):
        Toy(0).load_state_dict(state)


def test_what_cannot_be_saved_is_named():
    toy = Toy(0)
    toy.steps = "many"
    with pytest.raises(TypeError, match="cannot checkpoint a str"):
        toy.state_dict()
