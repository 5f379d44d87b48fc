"""coffee-push-v3 (``SawyerCoffeePushEnvV3``): push the mug along the table to the coffee machine.

Task: ``rand_vec = (mug x, y, z, goal x, y, z)``; the mug starts at the first triple, the goal is
the second, and the coffee machine's body stands 0.22 behind the goal. Reward and success as
coffee-pull's (``coffee.py``): the caging reward (medium density) times ``in_place`` (the mug's
distance to the goal, x and y weighted twice), ``1 + 5 * in_place`` more while the gripper is at
the mug, 10 in place; success within 0.07.
"""

from __future__ import annotations

from .coffee import Coffee


class CoffeePush(Coffee):
    """Meta-World's coffee-push-v3 over a batch of worlds."""

    name = "coffee-push-v3"
    machine_under = "goal"


__all__ = ["CoffeePush"]
