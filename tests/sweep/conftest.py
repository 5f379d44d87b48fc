"""One local Ray instance, bound to 127.0.0.1, shared by every sweep test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Read when ray is first imported (by a test or the fixture): a local instance on the loopback
# address only, not the machine's network address; Tune's plain output instead of boxed tables.
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")


@pytest.fixture(scope="session")
def ray_address(tmp_path_factory) -> Iterator[str]:
    """The address of a local 2-CPU Ray instance on 127.0.0.1 (this process is connected to it:
    in-process sweeps use it; a sweep in a subprocess joins it with ``--address``)."""
    import logging

    import ray

    from metarl.sweep.launch import RAY_TEMP_DIR

    RAY_TEMP_DIR.mkdir(parents=True, exist_ok=True)
    context = ray.init(
        address="local", num_cpus=2, include_dashboard=False, _temp_dir=str(RAY_TEMP_DIR),
        logging_level=logging.ERROR, log_to_driver=False,
    )  # fmt: skip
    address = context.address_info["address"]
    assert address.startswith("127.0.0.1:"), address

    yield address
    ray.shutdown()
