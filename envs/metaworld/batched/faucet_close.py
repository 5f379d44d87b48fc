"""faucet-close-v3 (``SawyerFaucetCloseEnvV3``): turn the faucet's handle to the left, closed.

Task, reward and success as ``faucet.Faucet`` describes, with the goal ``rand_vec - (handle
length, 0, -0.125)``, the observed point at site ``handleStartClose`` (0.01 lower), read by the
reward as observed. The reset ends with a forward pass (``mj_forward`` after moving the base).
"""

from __future__ import annotations

from .faucet import Faucet


class FaucetClose(Faucet):
    """Meta-World's faucet-close-v3 over a batch of worlds."""

    name = "faucet-close-v3"
    handle_site = "handleStartClose"
    side = -1.0
    reward_offset = (0.0, 0.0, 0.0)
    forward_at_reset = True


__all__ = ["FaucetClose"]
