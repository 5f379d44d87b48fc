"""Shared test data and fixtures: the ids of every registered family, and a training run
interrupted right after its first checkpoint."""

from collections.abc import Callable
from pathlib import Path

import pytest

import metarl
import metarl.train as training
from metarl.config import RunConfig
from metarl.runs import checkpoint_paths, load_checkpoint

ALL_IDS = list(metarl.registered_families())


class Interrupted(Exception):
    """Stands for the process being killed."""


@pytest.fixture
def crash_after_first_checkpoint(monkeypatch) -> Callable[[RunConfig, Path], int]:
    """``crash(cfg, run_dir)`` trains ``cfg`` in ``run_dir`` until its first checkpoint is
    written, then fails as a killed process would; returns that checkpoint's step (the run's
    only checkpoint). ``train(cfg, run_dir, resume=True)`` then continues it."""
    save = training.save_checkpoint

    def save_then_crash(*args, **kwargs):
        save(*args, **kwargs)
        raise Interrupted

    def crash(cfg: RunConfig, run_dir: Path) -> int:
        with monkeypatch.context() as patch:
            patch.setattr(training, "save_checkpoint", save_then_crash)
            with pytest.raises(Interrupted):
                training.train(cfg, run_dir)
        (saved,) = checkpoint_paths(run_dir)
        return load_checkpoint(saved)["step"]

    return crash
