"""Run directories, checkpoints and random-number-generator state.

A run directory holds everything one training run writes::

    runs/<agent>-<env>-<YYYYmmdd-HHMMSS>-s<seed>/
        config.yaml               the resolved config (load_config reads it back equal)
        events.out.tfevents.*     TensorBoard scalars and figures (metarl.logger.Logger)
        checkpoints/step_<N>.pt   the last few checkpoints, written atomically
        eval/                     adaptation-curve output

A checkpoint is a ``torch.save`` file holding the agent's ``state`` (tensors and plain Python
values only, so it loads with ``weights_only=True``) with the format version, the agent name and
the resolved config, which resume checks against the run's ``config.yaml``. Only the ``train``
section (budget, logging, checkpointing) may differ between them: nothing in a checkpoint depends
on it, so a resumed run may be given a longer budget.
"""

from __future__ import annotations

import os
import random
import re
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .config import (
    ConfigError,
    RunConfig,
    atomic_write,
    config_diff,
    config_to_dict,
    load_config,
    save_config,
)

__all__ = [
    "CHECKPOINT_FORMAT_VERSION",
    "CONFIG_FILE",
    "RESUMABLE_SECTION",
    "CheckpointError",
    "checkpoint_paths",
    "checkpoint_step",
    "env_short_name",
    "latest_checkpoint",
    "load_checkpoint",
    "make_run_dir",
    "resume_run",
    "rng_state",
    "save_checkpoint",
    "set_rng_state",
]

CHECKPOINT_FORMAT_VERSION = 1
CONFIG_FILE = "config.yaml"
CHECKPOINT_DIR = "checkpoints"
_CHECKPOINT_NAME = re.compile(r"^step_(\d+)\.pt$")
# The config section a resumed run may change: how long it trains and how often it logs and
# checkpoints. Every other key shapes the networks, data or RNG streams a checkpoint holds.
RESUMABLE_SECTION = "train"


def _resumable(dotted_key: str) -> bool:
    """Whether a resumed run may change this config key (it lies in :data:`RESUMABLE_SECTION`)."""
    return dotted_key.startswith(RESUMABLE_SECTION + ".")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be resumed from: corrupt, or written by a different run."""


# --- run directories ---------------------------------------------------------------------------


def env_short_name(env_id: str) -> str:
    """``metarl/PointRobot-v0`` -> ``PointRobot``: the id without namespace and version, path-safe."""
    name = env_id.rsplit("/", 1)[-1]
    name = re.sub(r"-v\d+$", "", name)
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "env"


def make_run_dir(cfg: RunConfig, run_dir: str | os.PathLike | None = None, *, root: str | os.PathLike = "runs") -> Path:
    """Create a new run directory and write the resolved ``config.yaml`` into it.

    Without ``run_dir`` the directory is ``<root>/<agent>-<env>-<YYYYmmdd-HHMMSS>-s<seed>``.
    An existing non-empty directory is refused, so a run never overwrites another; continue a
    run with :func:`resume_run` instead.
    """
    if run_dir is None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        base = Path(root) / f"{cfg.agent}-{env_short_name(cfg.env.id)}-{stamp}-s{cfg.seed}"
        path = base
        # Runs started in the same second with the same seed (a sweep) each get their own dir.
        suffix = 1
        while path.exists():
            path = base.with_name(f"{base.name}-{suffix}")
            suffix += 1
    else:
        path = Path(run_dir)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise FileExistsError(
                f"run directory {str(path)!r} already exists and is not empty; "
                f"continue it with --resume {path} or choose another directory"
            )
    path.mkdir(parents=True, exist_ok=True)
    save_config(cfg, path / CONFIG_FILE)
    return path


# --- checkpoints -------------------------------------------------------------------------------

# What torch.load(weights_only=True) can read back; anything else is refused when saving, so a
# run cannot train for hours and then fail to resume. Types are matched exactly because
# subclasses such as numpy.float64 (a float) or a namedtuple (a tuple) do not load back.
_PLAIN_TYPES = (torch.Size, torch.dtype, torch.device, str, bytes, int, float, bool, type(None))
_CONTAINERS = (dict, OrderedDict, list, tuple)


def _check_loadable(value: Any, where: str) -> None:
    if isinstance(value, torch.Tensor) or type(value) in _PLAIN_TYPES:
        return
    if type(value) not in _CONTAINERS:
        raise TypeError(
            f"{where} is a {type(value).__module__}.{type(value).__qualname__}; checkpoint state holds only "
            "tensors, dicts, lists, tuples and plain Python values (convert arrays with torch.as_tensor)"
        )
    if isinstance(value, dict):
        for k, v in value.items():
            _check_loadable(k, f"{where} key {k!r}")
            _check_loadable(v, f"{where}[{k!r}]")
    else:
        for i, v in enumerate(value):
            _check_loadable(v, f"{where}[{i}]")


def checkpoint_paths(run_dir: str | os.PathLike) -> list[Path]:
    """The run's checkpoint files, oldest (smallest step) first."""
    directory = Path(run_dir) / CHECKPOINT_DIR
    if not directory.is_dir():
        return []
    return sorted((p for p in directory.iterdir() if _CHECKPOINT_NAME.match(p.name)), key=checkpoint_step)


def checkpoint_step(path: str | os.PathLike) -> int:
    """The step a checkpoint file was written at, read from its name (``step_<N>.pt``)."""
    match = _CHECKPOINT_NAME.match(Path(path).name)
    if match is None:
        raise ValueError(f"{str(path)!r} is not a checkpoint file name; expected step_<N>.pt")
    return int(match.group(1))


def latest_checkpoint(run_dir: str | os.PathLike) -> Path | None:
    """The run's checkpoint with the largest step, or None.

    Checkpoints appear under their final name only once completely written (an atomic rename),
    so the newest name is always a whole file.
    """
    paths = checkpoint_paths(run_dir)
    return paths[-1] if paths else None


def save_checkpoint(
    run_dir: str | os.PathLike, state: Mapping[str, Any], step: int, cfg: RunConfig, *, keep: int | None = None
) -> Path:
    """Write ``checkpoints/step_<step>.pt`` atomically and delete all but the newest ``keep``.

    ``state`` is whatever the agent needs to continue (module and optimizer state dicts,
    buffers, :func:`rng_state`) as tensors and plain Python values. ``keep`` defaults to
    ``cfg.train.keep_checkpoints``. A crash while writing leaves the previous checkpoints as
    they were.
    """
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        raise ValueError(f"checkpoint step must be an integer >= 0, got {step!r}")
    keep = cfg.train.keep_checkpoints if keep is None else keep
    if keep < 1:
        raise ValueError(f"keep must be >= 1, got {keep!r}")
    _check_loadable(dict(state), "checkpoint state")
    directory = Path(run_dir) / CHECKPOINT_DIR
    directory.mkdir(parents=True, exist_ok=True)
    payload = {
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "agent": cfg.agent,
        "config": config_to_dict(cfg),
        "step": step,
        "state": dict(state),
    }
    path = directory / f"step_{step}.pt"
    atomic_write(path, lambda f: torch.save(payload, f))
    for old in checkpoint_paths(run_dir)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path_or_run_dir: str | os.PathLike, cfg: RunConfig | None = None) -> dict[str, Any]:
    """Read a checkpoint file, or a run directory's latest checkpoint.

    Returns ``{"step", "state", "agent", "config", "format_version"}``. With
    ``cfg``, the checkpoint must have been written under an equal config but for its
    :data:`RESUMABLE_SECTION`; otherwise a :class:`CheckpointError` lists every key that differs.
    Tensors load onto the CPU.
    """
    path = Path(path_or_run_dir)
    if path.is_dir():
        latest = latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(
                f"no checkpoint in {str(path / CHECKPOINT_DIR)!r} (expected files named step_<N>.pt)"
            )
        path = latest
    elif not path.exists():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, EOFError or UnpicklingError on a damaged file
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or not a metarl checkpoint ({type(e).__name__}: {e})"
        ) from e
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a metarl checkpoint (no format_version)")
    if ckpt["format_version"] != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {ckpt['format_version']!r}; "
            f"this metarl reads version {CHECKPOINT_FORMAT_VERSION}"
        )
    if cfg is not None:
        if ckpt["agent"] != cfg.agent:
            raise CheckpointError(
                f"checkpoint {str(path)!r} was written by agent {ckpt['agent']!r}, but the run's agent is {cfg.agent!r}"
            )
        diffs = [diff for diff in config_diff(ckpt["config"], config_to_dict(cfg)) if not _resumable(diff)]
        if diffs:
            raise CheckpointError(
                f"checkpoint {str(path)!r} was written under a different config (checkpoint -> run): "
                + "; ".join(diffs)
            )
    return ckpt


def resume_run(run_dir: str | os.PathLike, overrides: Sequence[str] = ()) -> tuple[RunConfig, dict[str, Any]]:
    """The run's ``config.yaml`` and its latest checkpoint, checked against each other.

    ``overrides`` (``key=value``, keys in the :data:`RESUMABLE_SECTION`, e.g.
    ``train.total_steps=2e8`` to extend the budget) are applied and, once the checkpoint is known
    to match, saved to ``config.yaml`` so later resumes see them too. A longer
    ``train.total_steps`` also stretches a linear learning-rate decay over the new length.
    """
    run_dir = Path(run_dir)
    for override in overrides:
        key = override.partition("=")[0].strip()
        if not _resumable(key):
            raise ConfigError(
                f"override {override!r}: a resumed run can change only {RESUMABLE_SECTION}.* keys "
                f"(e.g. train.total_steps, train.max_minutes), not {key!r}"
            )
    config_path = run_dir / CONFIG_FILE
    if not config_path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run directory: it has no {CONFIG_FILE}")
    cfg = load_config(config_path, overrides)
    checkpoint = load_checkpoint(run_dir, cfg)
    if overrides:
        save_config(cfg, config_path)
    return cfg, checkpoint


# --- random number generators ------------------------------------------------------------------

Generator = torch.Generator | np.random.Generator


def rng_state(generators: Mapping[str, Generator] | None = None) -> dict[str, Any]:
    """The state of Python's, NumPy's and torch's global generators (CUDA's too when in use).

    ``generators`` adds named generators owned by other objects, e.g. an env's
    ``torch.Generator`` or ``np_random``. The result can go into a checkpoint as it is.
    """
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": (name, keys.tolist(), pos, has_gauss, cached),
        "torch": torch.get_rng_state(),
        "generators": {},
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    for key, gen in (generators or {}).items():
        if isinstance(gen, torch.Generator):
            state["generators"][key] = gen.get_state()
        elif isinstance(gen, np.random.Generator):
            state["generators"][key] = gen.bit_generator.state
        else:
            raise TypeError(f"generator {key!r} is a {type(gen).__name__}; expected torch.Generator or numpy Generator")
    return state


def set_rng_state(state: Mapping[str, Any], generators: Mapping[str, Generator] | None = None) -> None:
    """Restore what :func:`rng_state` captured; ``generators`` must have the same names."""
    random.setstate(_as_tuples(state["python"]))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state:
        if torch.cuda.is_available() and torch.cuda.device_count() == len(state["cuda"]):
            torch.cuda.set_rng_state_all(state["cuda"])
        else:
            warnings.warn(
                f"the checkpoint holds CUDA generator states for {len(state['cuda'])} device(s) but "
                f"{torch.cuda.device_count() if torch.cuda.is_available() else 'no'} CUDA device(s) are visible; "
                "CUDA random draws will not repeat those of the original run",
                stacklevel=2,
            )
    generators = dict(generators or {})
    saved = state["generators"]
    if set(saved) != set(generators):
        raise KeyError(f"generators {sorted(generators)} do not match those saved, {sorted(saved)}")
    for key, gen in generators.items():
        if isinstance(gen, torch.Generator):
            gen.set_state(saved[key])
        else:
            gen.bit_generator.state = saved[key]


def _as_tuples(value: Any) -> Any:
    """``random.setstate`` needs tuples; a checkpoint may hand back lists."""
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value
