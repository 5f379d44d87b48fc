"""plate-slide-v3 (``SawyerPlateSlideEnvV3``): slide the plate forward along the table into the goal net.

Task: ``rand_vec = (plate x, y, z, goal x, y, z)`` (the plate's part fixed); the goal net's body
is moved to the goal (a model field, per world) and the plate starts at its channel (slides at
0). Reward v2 (``plate.py``): ``8 * hamacher(object_grasped, in_place)`` with unshifted
margins, 10 once the plate is within 0.05 of the goal; success within 0.07.
"""

from __future__ import annotations

from torch import Tensor

from .plate import PlateClass
from .rewards import hamacher_product
from .sawyer import SimView


class PlateSlide(PlateClass):
    """Meta-World's plate-slide-v3 over a batch of worlds."""

    name = "plate-slide-v3"
    model_fields = ("body_pos",)
    plate_start = (0.0, 0.0)
    margin_offset = 0.0

    def place(self, s: SimView, ids: Tensor, rand_vec: Tensor) -> None:
        s.body_pos[ids, self.goal_body] = rand_vec[:, 3:].to(s.qpos.dtype)  # the net at the goal

    def combine(self, object_grasped: Tensor, in_place: Tensor, tcp: Tensor, tcp_to_obj: Tensor) -> Tensor:
        return 8 * hamacher_product(object_grasped, in_place)


__all__ = ["PlateSlide"]
