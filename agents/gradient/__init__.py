"""Gradient-based meta-learners: MAML (with ProMP's and Meta-SGD's variants) and CAVIA.

``meta`` holds what they share (the batched inner step, the meta-gradient, the trainer);
``maml`` adapts every policy weight, ``cavia`` a small context vector.
"""

from metarl.agents.gradient.cavia import CAVIAConfig, make_cavia_trainer
from metarl.agents.gradient.maml import MAMLConfig, make_maml_trainer

__all__ = ["CAVIAConfig", "MAMLConfig", "make_cavia_trainer", "make_maml_trainer"]
