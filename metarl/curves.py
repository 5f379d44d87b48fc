"""Meta-test return against environment steps, read back from a run's TensorBoard events.

Training with ``eval.every_steps`` logs ``eval/adaptation/return_ep<k>`` at each evaluation;
``metarl curve RUN`` prints them as a table (the benchmark view: how fast an agent learns to
adapt, e.g. PEARL on cheetah-vel).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

_TAG = re.compile(r"^eval/adaptation/return_ep(\d+)$")


def learning_curve(run_dir: str | os.PathLike) -> tuple[list[int], list[int], list[list[float]]]:
    """``(steps, episode indices, returns[step][episode])`` of a run's periodic evaluations."""
    events = EventAccumulator(str(Path(run_dir)), size_guidance={"scalars": 0})
    events.Reload()
    episodes = sorted(int(m.group(1)) for tag in events.Tags()["scalars"] if (m := _TAG.match(tag)))
    if not episodes:
        raise ValueError(f"{run_dir} has no eval/adaptation/return_ep<k> scalars; train with eval.every_steps set")
    by_step: dict[int, dict[int, float]] = {}
    for k in episodes:
        for event in events.Scalars(f"eval/adaptation/return_ep{k}"):
            by_step.setdefault(event.step, {})[k] = event.value
    steps = sorted(by_step)
    return steps, episodes, [[by_step[s].get(k, float("nan")) for k in episodes] for s in steps]
