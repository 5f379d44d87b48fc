"""Shared test data and fixtures: the ids of every registered family, config errors as the
loader and ``metarl train`` report them, and a training run interrupted right after its first
checkpoint."""

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import metarl
import metarl.runner.train as training
from metarl import cli
from metarl.common.checks import ConfigError
from metarl.common.config import RunConfig, load_config
from metarl.runner.runs import checkpoint_paths, load_checkpoint

#: Meta-World's 54 families share one implementation: the common contracts run on one ML1
#: family and one multi-class benchmark (tests/envs/test_metaworld.py covers the rest).
METAWORLD_SAMPLE = ("metarl/ML1-reach-v0", "metarl/ML10-v0")
ALL_IDS = [
    i for i in metarl.registered_families()
    if not metarl.registered_families()[i].kwargs.get("benchmark") or i in METAWORLD_SAMPLE
]  # fmt: skip


@pytest.fixture
def config_error() -> Callable[[Path, str], str]:
    """``config_error(config, override)``: the message of the ``ConfigError`` that loading
    ``config`` with ``override`` raises (the test fails when it loads)."""

    def message(config: Path, override: str) -> str:
        with pytest.raises(ConfigError) as err:
            load_config(config, [override])
        return str(err.value)

    return message


@pytest.fixture
def train_cli_refusal(tmp_path, capsys) -> Callable[[Path, str], str]:
    """``train_cli_refusal(config, override)`` runs ``metarl train config override``, checks that
    it exits with status 2 without making its run directory, and returns what it printed to stderr."""

    def refusal(config: Path, override: str) -> str:
        run = tmp_path / "refused-run"
        assert cli.main(["train", str(config), override, "--run-dir", str(run)]) == 2
        assert not run.exists(), "a bad config must not create a run directory"
        return capsys.readouterr().err

    return refusal


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


@pytest.fixture
def one_thread():
    """Train on one torch thread: small networks train several times slower with a second thread
    on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
