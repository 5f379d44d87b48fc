"""The configuration MAML and CAVIA share: the inner loop, the advantages, the outer optimisers
(``GradientMetaConfig``, with ``OuterPPOConfig`` and ``ProMPConfig`` nested in it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from metarl.common.checks import check
from metarl.common.trpo import TRPOConfig


@dataclass
class OuterPPOConfig:
    """The clipped outer objective of ``outer: ppo | promp``; defaults are ProMP's run scripts
    (Adam 1e-3, 5 steps per batch without re-sampling, clip 0.3, no gradient clipping)."""

    lr: float = 1e-3
    epochs: int = 5
    clip: float = 0.3
    max_grad_norm: float | None = None

    def __post_init__(self) -> None:
        for name in ("lr", "epochs", "clip"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        check(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm", self.max_grad_norm, "null or > 0")


@dataclass
class ProMPConfig:
    """ProMP's penalty on the KL between the pre-update policy and the one that sampled the
    pre-update episodes (per inner step); defaults are ProMP's run scripts (fixed 5e-4)."""

    inner_kl_coeff: float = 5e-4
    adaptive_inner_kl: bool = False
    target_inner_kl: float = 0.01

    def __post_init__(self) -> None:
        check(self.inner_kl_coeff >= 0, "inner_kl_coeff", self.inner_kl_coeff, ">= 0")
        check(self.target_inner_kl > 0, "target_inner_kl", self.target_inner_kl, "> 0")


@dataclass
class GradientMetaConfig:
    """What MAML and CAVIA share; defaults are pytorch-maml-rl's 2D-navigation config
    (``configs/maml/2d-navigation.yaml``) with MAML-TRPO's trust region."""

    hidden_sizes: tuple[int, ...] = (64, 64)
    activation: Literal["tanh", "relu"] = "tanh"
    init_log_std: float = 0.0
    meta_batch: int = 20
    inner_episodes: int = 20  # episodes per task before each inner step (fast batch), also at meta-test
    num_inner_steps: int = 1
    inner_lr: float = 0.1
    first_order: bool = False
    inner_loss: Literal["reinforce", "lvc"] | None = None  # null: lvc for outer promp, else reinforce
    outer: Literal["trpo", "ppo", "promp"] = "trpo"
    gamma: float = 0.99
    gae_lambda: float = 1.0
    baseline_reg: float = 1e-5
    trpo: TRPOConfig = field(default_factory=TRPOConfig)
    ppo: OuterPPOConfig = field(default_factory=OuterPPOConfig)
    promp: ProMPConfig = field(default_factory=ProMPConfig)
    test_inner_steps: int | None = None  # inner steps at meta-test; null: num_inner_steps
    deterministic_after_adaptation: bool = False  # mean actions after the last meta-test step, when asked

    def __post_init__(self) -> None:
        check(len(self.hidden_sizes) > 0 and all(h > 0 for h in self.hidden_sizes), "hidden_sizes",
              self.hidden_sizes, "a non-empty list of positive widths")  # fmt: skip
        for name in ("meta_batch", "inner_episodes", "num_inner_steps", "inner_lr"):
            check(getattr(self, name) > 0, name, getattr(self, name), "> 0")
        check(0 <= self.gamma <= 1, "gamma", self.gamma, "[0, 1]")
        check(0 <= self.gae_lambda <= 1, "gae_lambda", self.gae_lambda, "[0, 1]")
        check(self.baseline_reg > 0, "baseline_reg", self.baseline_reg, "> 0")
        steps = self.test_inner_steps
        check(steps is None or steps >= 0, "test_inner_steps", steps, "null or an integer >= 0")

    @property
    def inner_objective(self) -> str:
        """The inner loss in use: ``inner_loss``, or its default for the outer optimiser."""
        if self.inner_loss is not None:
            return self.inner_loss
        return "lvc" if self.outer == "promp" else "reinforce"

    @property
    def meta_test_steps(self) -> int:
        """Inner steps the agent takes at meta-test."""
        return self.num_inner_steps if self.test_inner_steps is None else self.test_inner_steps
