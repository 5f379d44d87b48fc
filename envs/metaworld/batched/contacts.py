"""The pads' contact forces on an object, for the classes whose ``info`` reads them.

Farama's ``touching_object`` sums ``efc_force`` over the contacts between each pad geom and the
object after its ``mj_forward``; a batch has no per-world contact list, so the model gets two
MuJoCo ``contact`` sensors (one per pad, geom to geom, the contact of largest force, its force in
the contact frame: component 0 is the normal force). A pad touches when that normal force is
positive, which is when any of its contacts with the object carries force, Farama's test
(the expert's and noisy trajectories of stick-push agree at every step, see the tests).
Sensors change no dynamics: the model equals Farama's in every other field.
"""

from __future__ import annotations

from typing import Any

import mujoco
import numpy as np

PADS = ("leftpad_geom", "rightpad_geom")
#: ``intprm`` of a contact sensor: the data it reports (bit 1: force), the reduction (2: the
#: contact of largest force) and the number of contacts reported.
_FORCE, _MAXFORCE, _ONE = 1 << 1, 2, 1
#: Model fields that differ by construction between the compiled spec and Farama's live model.
_SKIP = ("name", "sensor", "signature", "nbuffer")


def with_pad_contact_sensors(env: Any, object_geom: str) -> tuple[mujoco.MjModel, np.ndarray]:
    """Farama's model of ``env`` plus a contact sensor per pad on geom ``object_geom``, and the
    ``sensordata`` columns of the two normal forces (left, right).

    The model is compiled again from the class's XML; every numeric field is then copied from
    ``env.model``, so values Farama changed at run time (the welds' ``eq_data``, the goal site)
    are kept."""
    spec = mujoco.MjSpec.from_file(env.model_name)
    for pad in PADS:
        spec.add_sensor(
            name=f"metarl_{pad}_on_{object_geom}", type=mujoco.mjtSensor.mjSENS_CONTACT,
            objtype=mujoco.mjtObj.mjOBJ_GEOM, objname=pad, reftype=mujoco.mjtObj.mjOBJ_GEOM, refname=object_geom,
            intprm=[_FORCE, _MAXFORCE, _ONE],
        )  # fmt: skip
    model = spec.compile()
    for name in dir(env.model):
        if name.startswith("_") or any(part in name for part in _SKIP):
            continue
        live, ours = getattr(env.model, name), getattr(model, name)
        if isinstance(live, np.ndarray) and live.shape == ours.shape:
            ours[...] = live
    columns = model.sensor_adr[-len(PADS) :].copy()  # the normal force is each sensor's first value
    return model, columns


__all__ = ["PADS", "with_pad_contact_sensors"]
