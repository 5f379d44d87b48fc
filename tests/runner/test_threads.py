"""train.threads: how many CPU threads torch gets for a trainer."""

import torch
from torch import nn

from metarl.runner.threads import LARGE_MODEL_PARAMETERS, available_cores, choose_threads, count_parameters

CPU, CUDA = torch.device("cpu"), torch.device("cuda")


class Trainer:
    def __init__(self, agent, **modules):
        self.agent = agent
        self.__dict__.update(modules)


def test_parameters_are_counted_once_over_the_trainer_and_its_agent():
    shared = nn.Linear(3, 4)  # 16 parameters
    agent = nn.Sequential(shared)
    frozen = nn.Linear(2, 2).requires_grad_(False)
    assert count_parameters(Trainer(agent, critic=shared, frozen=frozen, steps=5)) == 16
    assert count_parameters(Trainer(None, net=nn.Linear(1, 1))) == 2  # a trainer without an agent


def test_auto_gives_small_networks_one_thread_and_large_ones_every_core(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert choose_threads("auto", LARGE_MODEL_PARAMETERS - 1, CPU) == 1
    assert choose_threads("auto", LARGE_MODEL_PARAMETERS, CPU) == available_cores()
    assert choose_threads("auto", 10, CUDA) is None  # the GPU does the work: torch's setting stays
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert choose_threads("auto", 10, CPU) is None  # the user's choice stays
    assert choose_threads(1, 10**9, CPU) == 1 and choose_threads(10**6, 10, CPU) == available_cores()
