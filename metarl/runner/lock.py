"""One process at a time per run directory: an advisory lock held while a run is trained.

The lock is ``fcntl.flock`` on ``<run_dir>/.lock``, so the kernel releases it when its process
ends however it ends (a kill -9 leaves no stale lock to clean up: the next process simply takes
it). The file holds the holder's pid and host, which a refused process reports.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["LOCK_FILE", "RunLockedError", "run_lock"]

#: The lock file in a run directory.
LOCK_FILE = ".lock"

# Re-entrant within a process: train() takes the lock that the CLI already holds for resume.
_HELD: set[Path] = set()


class RunLockedError(RuntimeError):
    """Another process is training into the run directory."""


@contextmanager
def run_lock(run_dir: str | os.PathLike) -> Iterator[Path]:
    """Hold the run directory's lock (creating the directory if needed) for the ``with`` block.

    Raises :class:`RunLockedError` naming the holder's pid and host when another live process
    holds it.
    """
    path = Path(run_dir)
    path.mkdir(parents=True, exist_ok=True)
    key = path.resolve()
    if key in _HELD:
        yield path
        return
    fd = os.open(path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
        os.close(fd)
        raise RunLockedError(
            f"run directory {str(path)!r} is being trained by another process ({holder}); "
            "wait for it to finish or stop it first"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
    _HELD.add(key)
    try:
        yield path
    finally:
        _HELD.discard(key)
        os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock
