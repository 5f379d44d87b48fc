"""faucet-open-v3 (``SawyerFaucetOpenEnvV3``): turn the faucet's handle to the right, open.

Task, reward and success as ``faucet.Faucet`` describes, with the goal ``rand_vec + (handle
length, 0, 0.125)``, the observed point at site ``handleStartOpen`` (0.01 lower), and the reward
reading that point moved by ``(-0.04, 0, 0.03)``. The reset runs no forward pass after moving
the base: the reset observation reads the poses the settling left (``settled.keep_settled_poses``).
"""

from __future__ import annotations

from .faucet import Faucet


class FaucetOpen(Faucet):
    """Meta-World's faucet-open-v3 over a batch of worlds."""

    name = "faucet-open-v3"
    handle_site = "handleStartOpen"
    side = 1.0
    reward_offset = (-0.04, 0.0, 0.03)
    forward_at_reset = False


__all__ = ["FaucetOpen"]
