"""Run directories, checkpoints and random-number-generator state.

A run directory holds everything one training run writes::

    runs/<agent>-<env>-<YYYYmmdd-HHMMSS>-s<seed>/
        config.yaml               the resolved config (load_config reads it back equal)
        events.out.tfevents.*     TensorBoard scalars and figures (metarl.runner.logger.Logger)
        checkpoints/step_<N>.pt   the last few checkpoints, written atomically
        eval/                     adaptation-curve output

A checkpoint is a ``torch.save`` file holding the agent's ``state`` (tensors and plain Python
values only, so it loads with ``weights_only=True``) with the format version, the agent name and
the resolved config, which resume checks against the run's ``config.yaml``. Only the ``train``
section (budget, logging, checkpointing) may differ between them: nothing in a checkpoint depends
on it, so a resumed run may be given a longer budget.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import torch

from metarl.common.checks import ConfigError
from metarl.common.config import RunConfig, config_diff, config_to_dict, from_dict, load_config, save_config
from metarl.common.files import atomic_write
from metarl.report.results import EVAL_DIR
from metarl.runner.lock import LOCK_FILE
from metarl.runner.rng import rng_state, set_rng_state

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
    "check_new_run_dir",
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


# Keys that say where the run's code comes from, not what its checkpoint holds.
_CODE_KEYS = ("imports", "python_path")


def _resumable(dotted_key: str) -> bool:
    """Whether a resumed run may change this config key (it lies in :data:`RESUMABLE_SECTION`)."""
    return dotted_key.startswith(RESUMABLE_SECTION + ".")


def _may_differ(diff: str) -> bool:
    """Whether a checkpoint may differ from the run's config in this ``config_diff`` line: the
    resumable section, or where the run's code is imported from (checkpoints from before metarl
    recorded it have no such keys)."""
    return _resumable(diff) or diff.split(":", 1)[0] in _CODE_KEYS


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
    An existing directory holding another run is refused, so a run never overwrites another;
    continue a run with :func:`resume_run` instead. A directory left by a run that never wrote a
    checkpoint (it failed or was killed early) holds nothing to keep: it is restarted in place
    (its event files and evaluation output are removed). Call it under :func:`metarl.runner.lock.run_lock`
    when another process may be training into ``run_dir``.
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
        if check_new_run_dir(path):
            warnings.warn(f"{str(path)!r} holds a run that never wrote a checkpoint: restarting it in place", stacklevel=2)
            clear_run_output(path)
    path.mkdir(parents=True, exist_ok=True)
    save_config(cfg, path / CONFIG_FILE)
    return path


def check_new_run_dir(run_dir: str | os.PathLike) -> bool:
    """Whether ``run_dir`` can take a new run: ``FileExistsError`` when it holds something else;
    True when it holds a run that never checkpointed (restarted in place), False when new or empty."""
    path = Path(run_dir)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"run directory {str(path)!r} exists and is a file; choose another directory")
    if not path.is_dir() or _is_empty_run_dir(path):
        return False
    if not is_abandoned_run(path):
        raise FileExistsError(
            f"run directory {str(path)!r} already exists and is not empty; "
            f"continue it with --resume {path} or choose another directory"
        )
    return True


def _is_empty_run_dir(path: Path) -> bool:
    """Empty but for the lock file a caller may already hold on it."""
    return all(p.name == LOCK_FILE for p in path.iterdir())


def is_abandoned_run(run_dir: str | os.PathLike) -> bool:
    """A run directory with its ``config.yaml`` but no checkpoint: a run that failed or was killed
    before its first checkpoint, with nothing to resume from."""
    path = Path(run_dir)
    return (path / CONFIG_FILE).is_file() and not checkpoint_paths(path)


def clear_run_output(run_dir: str | os.PathLike) -> None:
    """Remove what a run wrote besides its config (event files, evaluation output, temporary files),
    so that a run which never checkpointed can start again in its own directory."""
    path = Path(run_dir)
    for events in path.glob("events.out.tfevents.*"):
        events.unlink()
    shutil.rmtree(path / EVAL_DIR, ignore_errors=True)
    remove_temporary_files(path)


def remove_temporary_files(run_dir: str | os.PathLike) -> list[Path]:
    """Delete the temporary files of writes that a killed process left unfinished
    (``.<name>.*.tmp``, see :func:`metarl.common.files.atomic_write`); returns them."""
    path = Path(run_dir)
    orphans = [p for p in path.rglob(".*.tmp") if p.is_file()]
    for orphan in orphans:
        orphan.unlink(missing_ok=True)
    return orphans


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


def load_checkpoint(
    path_or_run_dir: str | os.PathLike, cfg: RunConfig | None = None, *, fallback: bool = True
) -> dict[str, Any]:
    """Read a checkpoint file, or a run directory's newest intact checkpoint.

    Returns ``{"step", "state", "agent", "config", "format_version", "path"}``. Loading never
    unpickles objects: anything but tensors and plain values is refused as corrupt. Given a run
    directory, a corrupt newest checkpoint is skipped with a warning naming it and the next older
    one is read (unless ``fallback`` is false); a :class:`CheckpointError` lists them when none is
    intact. With ``cfg``, the checkpoint must have been written under an equal config but for its
    :data:`RESUMABLE_SECTION`; otherwise a :class:`CheckpointError` lists every key that differs.
    Tensors load onto the CPU.
    """
    path = Path(path_or_run_dir)
    if not path.is_dir():
        if not path.exists():
            raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
        return _check_matches(_read_checkpoint(path), path, cfg)
    candidates = checkpoint_paths(path)[::-1]
    if not candidates:
        raise FileNotFoundError(f"no checkpoint in {str(path / CHECKPOINT_DIR)!r} (expected files named step_<N>.pt)")
    candidates = candidates if fallback else candidates[:1]
    errors = []
    for i, candidate in enumerate(candidates):
        try:
            ckpt = _read_checkpoint(candidate)
        except CheckpointError as e:
            errors.append(str(e))
            if i + 1 < len(candidates):
                warnings.warn(f"{e}; falling back to {candidates[i + 1].name}", stacklevel=2)
            continue
        return _check_matches(ckpt, candidate, cfg)
    if len(errors) == 1:
        raise CheckpointError(errors[0])
    raise CheckpointError(f"no intact checkpoint in {str(path / CHECKPOINT_DIR)!r}: " + "; ".join(errors))


def _read_checkpoint(path: Path) -> dict[str, Any]:
    """``torch.load`` of tensors and plain values only, with metarl's own error message."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises RuntimeError, EOFError or UnpicklingError on a damaged file
        # torch's own message advises weights_only=False, i.e. running whatever the file holds:
        # keep only the reason (e.g. "Unsupported global: GLOBAL os.system").
        reason = next((line.strip() for line in str(e).splitlines() if "Unsupported global" in line), type(e).__name__)
        raise CheckpointError(
            f"checkpoint {str(path)!r} is corrupt or not a metarl checkpoint ({reason}; "
            "metarl loads only tensors and plain values)"
        ) from None
    if not isinstance(ckpt, dict) or "format_version" not in ckpt:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a metarl checkpoint (no format_version)")
    if ckpt["format_version"] != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {str(path)!r} has format version {ckpt['format_version']!r}; "
            f"this metarl reads version {CHECKPOINT_FORMAT_VERSION}"
        )
    missing = [k for k in ("agent", "config", "step", "state") if k not in ckpt]
    if missing:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a metarl checkpoint (missing {missing})")
    return {**ckpt, "path": str(path)}


def _check_matches(ckpt: dict[str, Any], path: Path, cfg: RunConfig | None) -> dict[str, Any]:
    if cfg is None:
        return ckpt
    if ckpt["agent"] != cfg.agent:
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written by agent {ckpt['agent']!r}, but the run's agent is {cfg.agent!r}"
        )
    diffs = [diff for diff in config_diff(_with_defaults(ckpt["config"]), config_to_dict(cfg)) if not _may_differ(diff)]
    if diffs:
        raise CheckpointError(
            f"checkpoint {str(path)!r} was written under a different config (checkpoint -> run): " + "; ".join(diffs)
        )
    return ckpt


def _with_defaults(data: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint's config with the keys added to metarl since it was written at their
    defaults (so a new option does not stop older runs from resuming); as written when it no
    longer loads (a key since removed: the diff names it)."""
    try:
        return config_to_dict(from_dict(data))
    except (ValueError, TypeError, KeyError):
        return data


def resume_run(
    run_dir: str | os.PathLike, overrides: Sequence[str] = (), checkpoint: str | os.PathLike | None = None
) -> tuple[RunConfig, dict[str, Any] | None]:
    """The run's ``config.yaml`` and the checkpoint to continue from, checked against each other.

    ``overrides`` (``key=value``, keys in the :data:`RESUMABLE_SECTION`, e.g.
    ``train.total_steps=2e8`` to extend the budget) are applied and, once the checkpoint is known
    to match, saved to ``config.yaml`` so later resumes see them too. A longer
    ``train.total_steps`` also stretches a linear learning-rate decay over the new length.

    ``checkpoint``: a file name in the run's ``checkpoints/`` (``step_N.pt``) or a path; default the
    newest intact one. Checkpoints newer than the one chosen are set aside (renamed
    ``*.corrupt`` when unreadable, else ``*.superseded``), so the continued run never mixes with
    the abandoned one. A run without any checkpoint (it failed before its first) returns ``None``
    and starts again from step 0, its earlier output cleared. Call it under
    :func:`metarl.runner.lock.run_lock`: it changes the run directory.
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
    if checkpoint is None and not checkpoint_paths(run_dir):
        warnings.warn(f"{str(run_dir)!r} has no checkpoint: training it again from step 0", stacklevel=2)
        clear_run_output(run_dir)
        ckpt = None
    else:
        chosen = _checkpoint_path(run_dir, checkpoint) if checkpoint is not None else None
        ckpt = load_checkpoint(chosen or run_dir, cfg)
        # Without --checkpoint, newer files were skipped because they are corrupt.
        _set_aside_newer(run_dir, checkpoint_step(ckpt["path"]), ".superseded" if checkpoint else ".corrupt")
    if overrides:
        save_config(cfg, config_path)
    remove_temporary_files(run_dir)
    return cfg, ckpt


def _checkpoint_path(run_dir: Path, checkpoint: str | os.PathLike) -> Path:
    """``--checkpoint``: a name in the run's checkpoints folder, or a path to one of its files."""
    given = Path(checkpoint)
    path = given if given.exists() else run_dir / CHECKPOINT_DIR / given.name
    mine = path.resolve().parent == (run_dir / CHECKPOINT_DIR).resolve()
    if not (mine and path.is_file() and _CHECKPOINT_NAME.match(path.name)):
        available = ", ".join(p.name for p in checkpoint_paths(run_dir)) or "none"
        raise FileNotFoundError(
            f"checkpoint {str(checkpoint)!r} is not one of this run's checkpoints; available: {available}"
        )
    return path


def _set_aside_newer(run_dir: Path, step: int, suffix: str) -> None:
    for newer in (p for p in checkpoint_paths(run_dir) if checkpoint_step(p) > step):
        newer.rename(newer.with_name(newer.name + suffix))
        warnings.warn(f"set aside {newer.name} as {newer.name + suffix}: the run continues from step {step}", stacklevel=3)


def evaluated_at_checkpoint(path: str | os.PathLike) -> bool:
    """Whether the run's evaluation (``eval/adaptation.json``) was written at its newest checkpoint's step."""
    checkpoints = checkpoint_paths(path)
    summary = Path(path) / EVAL_DIR / "adaptation.json"
    if not checkpoints or not summary.is_file():
        return False
    return json.loads(summary.read_text()).get("step") == checkpoint_step(checkpoints[-1])
