"""TensorBoard logging and a terminal progress line.

Tags follow common practice (CleanRL, Stable-Baselines3): ``charts/episodic_return``,
``losses/<name>``, ``perf/steps_per_second``, ``perf/train_seconds`` (training wall-clock summed over
the sessions of a resumed run), ``eval/adaptation/return_ep<k>``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from torch.utils.tensorboard import SummaryWriter

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = ["Logger", "Progress", "progress_enabled"]


class Logger:
    """TensorBoard scalars and figures, written as event files directly in the run directory.

    When a run resumes from a checkpoint at step ``S``, pass ``resume_step=S``: TensorBoard
    then discards what the interrupted session logged after step ``S``, so the resumed curves
    do not overlap stale ones.
    """

    def __init__(self, run_dir: str | os.PathLike, *, resume_step: int | None = None, flush_secs: int = 30):
        if resume_step is not None and resume_step < 0:
            raise ValueError(f"resume_step must be None or an integer >= 0, got {resume_step!r}")
        self.run_dir = Path(run_dir)
        # TensorBoard drops earlier events at steps >= purge_step; the checkpoint's own step stays.
        purge_step = None if resume_step is None else resume_step + 1
        if purge_step is not None:
            _wait_past_newest_event_file(self.run_dir)
        self.writer = SummaryWriter(log_dir=str(self.run_dir), purge_step=purge_step, flush_secs=flush_secs)

    def scalar(self, tag: str, value: float, step: int) -> None:
        """Log one scalar, e.g. ``scalar("charts/episodic_return", 12.5, step)``."""
        self.writer.add_scalar(tag, float(value), step)

    def scalars(self, values: Mapping[str, float], step: int, prefix: str = "") -> None:
        """Log several scalars at one step; ``prefix="losses/"`` turns ``qf`` into ``losses/qf``."""
        for tag, value in values.items():
            self.writer.add_scalar(prefix + tag, float(value), step)

    def log_figure(self, tag: str, fig: Figure, step: int) -> None:
        """Log a matplotlib figure as an image (the figure is closed)."""
        self.writer.add_figure(tag, fig, step, close=True)

    def flush(self) -> None:
        """Write pending events to disk now."""
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file."""
        self.writer.close()

    def __enter__(self) -> Logger:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _wait_past_newest_event_file(run_dir: Path) -> None:
    """Sleep (under a second) until a new event file would sort after every existing one.

    TensorBoard reads a directory's event files in name order and applies a purge only to events
    read before it. Names start with the creation second, then host, pid and a per-process counter
    compared as text (``10`` < ``9``), so two files made within one second can read in the wrong
    order and resurrect the purged steps.
    """
    seconds = [
        int(parts[3])
        for f in run_dir.glob("events.out.tfevents.*")
        if len(parts := f.name.split(".")) > 3 and parts[3].isdigit()
    ]
    if seconds and (wait := max(seconds) + 1 - time.time()) > 0:
        time.sleep(wait)


#: Seconds between the plain progress lines written where output is not a terminal.
PLAIN_INTERVAL = 30.0


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def progress_enabled(stream: TextIO) -> bool:
    """Whether to redraw a progress bar on ``stream``: a terminal, and not in CI (``CI`` unset or false)."""
    return not _in_ci() and stream.isatty()


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    """One line of progress, redrawn in place: steps done/total, steps per second, time left.

    On a terminal outside CI (see :func:`progress_enabled`) the line is redrawn in place; where
    output goes to a file or a pipe (``nohup``, a batch job) it is written as a plain line every
    ``plain_interval`` seconds; in CI or with ``quiet`` nothing is written. ``rate`` is measured
    either way. The rate counts only this session's steps, so a resumed
    run does not report the checkpoint's steps as if done in no time. With a wall-clock budget
    of ``seconds``, the time left is whichever ends first, the steps or the budget.
    """

    def __init__(
        self,
        total: int,
        *,
        initial: int = 0,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        min_interval: float = 0.5,
        seconds: float | None = None,
        quiet: bool = False,
        plain_interval: float = PLAIN_INTERVAL,
    ):
        if total < 1:
            raise ValueError(f"total must be >= 1, got {total!r}")
        if seconds is not None and seconds <= 0:
            raise ValueError(f"seconds must be None or > 0, got {seconds!r}")
        self.total, self.step = total, initial
        self.stream = sys.stdout if stream is None else stream
        self.enabled = progress_enabled(self.stream) if enabled is None else enabled
        # Plain lines where the bar is not drawn: a file or a pipe, outside CI and unless quiet.
        self.plain = not self.enabled and not quiet and not _in_ci() and enabled is None
        if quiet:
            self.enabled = False
        self.min_interval = plain_interval if self.plain else min_interval
        self._start_step, self._start_time = initial, time.monotonic()
        self._deadline = self._start_time + seconds if seconds is not None else math.inf
        self._last_draw = -math.inf
        self._info: dict[str, float] = {}

    @property
    def rate(self) -> float:
        """Steps per second since this ``Progress`` was created."""
        elapsed = time.monotonic() - self._start_time
        return (self.step - self._start_step) / elapsed if elapsed > 0 else 0.0

    def update(self, step: int, **info: float) -> None:
        """Record that ``step`` steps are done; ``info`` (e.g. ``ret=12.3``) is shown until replaced."""
        self.step = step
        self._info.update(info)
        now = time.monotonic()
        if not (self.enabled or self.plain) or (now - self._last_draw < self.min_interval and step < self.total):
            return
        if self._last_draw == -math.inf and self.plain:
            self._last_draw = now  # the first plain line after one interval, not at step one
            return
        self._last_draw = now
        if self.plain:
            self.stream.write(self.line() + "\n")
        else:
            self.stream.write("\r" + self.line() + "\x1b[K")  # \x1b[K clears what a longer line left
        self.stream.flush()

    def line(self) -> str:
        """The progress line, e.g. ``1,000/10,000 steps (10%)  250 steps/s  ETA 0:00:36  ret 1.5``."""
        rate = self.rate
        eta = (self.total - self.step) / rate if rate > 0 else math.inf
        eta = min(eta, max(self._deadline - time.monotonic(), 0.0))
        parts = [
            f"{self.step:,}/{self.total:,} steps ({100 * self.step / self.total:.0f}%)",
            f"{rate:,.0f} steps/s",
            f"ETA {_duration(eta)}",
            *(f"{k} {v:.4g}" for k, v in self._info.items()),
        ]
        return "  ".join(parts)

    def close(self) -> None:
        """End the line so later output starts on a fresh one."""
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
