"""coffee-pull-v3 (``SawyerCoffeePullEnvV3``): pull the mug away from the coffee machine to a goal.

Task: ``rand_vec = (mug x, y, z, goal x, y, z)``; the mug starts at the first triple, in front of
the coffee machine (its body 0.22 behind the mug's start), the goal is the second. Reward and
success as coffee-push's (``coffee.py``): the caging reward (medium density) times ``in_place``
(the mug's distance to the goal, x and y weighted twice), ``1 + 5 * in_place`` more while the
gripper is at the mug, 10 in place; success within 0.07.
"""

from __future__ import annotations

from .coffee import Coffee


class CoffeePull(Coffee):
    """Meta-World's coffee-pull-v3 over a batch of worlds."""

    name = "coffee-pull-v3"
    machine_under = "start"


__all__ = ["CoffeePull"]
