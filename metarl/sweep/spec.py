"""A sweep's specification, parsed from the command line and kept as ``OUT/sweep.yaml``.

``metarl sweep CONFIG [key=value ...] --seeds 0-9 --grid rl2.ppo.lr=1e-3,3e-4 ...`` becomes a
:class:`SweepSpec`: the base config (copied to ``OUT/base.yaml``, so later edits of CONFIG do not
change a sweep being resumed), the overrides every trial shares, the seeds, one :class:`Axis` per
``--grid`` key, the search (``grid``: every combination of the axes' values with every seed;
``optuna``: ``trials`` configurations sampled by Optuna, each trained on every seed), the metric
and the resources per trial. The file is written and read with a safe YAML loader.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from metarl.common.files import atomic_write_bytes

__all__ = ["BASE_CONFIG", "SPEC_FILE", "Axis", "SweepSpec", "load_spec", "parse_axis", "parse_seeds", "save_spec"]

FORMAT = "metarl.sweep/1"
SPEC_FILE = "sweep.yaml"
BASE_CONFIG = "base.yaml"
SEARCHES = ("grid", "optuna")
MODES = ("max", "min")
_SEED_PART = re.compile(r"^(\d+)(?:-(\d+))?$")
_KEY = re.compile(r"^[A-Za-z_][\w-]*(\.[A-Za-z_][\w-]*)*$")
_RANGE = re.compile(r"^(?P<low>[^.][^,]*?)\.\.(?P<high>[^,:]+?)(?P<log>:log)?$")


def parse_seeds(text: str) -> list[int]:
    """``"0-9"``, ``"0,3,7"``, ``"5"`` or a mix (``"0-3,8"``) -> the seeds, in the order given.

    A reversed range, a negative or non-integer seed, or a seed given twice is a ``ValueError``
    naming the text and the allowed forms."""
    allowed = "allowed: N, A-B with A <= B, or a comma-separated list of those (e.g. 0-9 or 0,3,7)"
    seeds: list[int] = []
    for part in str(text).split(","):
        match = _SEED_PART.match(part.strip())
        if match is None:
            raise ValueError(f"--seeds {text!r}: {part.strip()!r} is not a seed or a range of seeds; {allowed}")
        low, high = int(match.group(1)), int(match.group(2) if match.group(2) is not None else match.group(1))
        if high < low:
            raise ValueError(f"--seeds {text!r}: the range {part.strip()!r} is reversed; {allowed}")
        seeds += range(low, high + 1)
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise ValueError(f"--seeds {text!r} names seed(s) {repeated} more than once; each seed is one run")
    return seeds


def parse_value(text: str) -> Any:
    """One value of a ``--grid`` list, read as YAML (``1e-3`` is a float, as in configs)."""
    text = text.strip()
    for number in (int, float):
        try:
            return number(text)
        except ValueError:
            pass
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ValueError(f"--grid value {text!r} is not valid YAML: {e}") from None


def _split_top_level(text: str) -> list[str]:
    """``a,b`` -> ``["a", "b"]``, leaving commas inside brackets (``[64, 64],[32]``) alone."""
    parts, depth, current = [], 0, ""
    for char in text:
        depth += char in "[{"
        depth -= char in "]}"
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


@dataclass(frozen=True)
class Axis:
    """One ``--grid`` key: a list of ``values``, or (Optuna only) a range ``low..high``, sampled
    on a log scale with ``log``; integers when both ends are integers."""

    key: str
    values: list[Any] | None = None
    low: float | None = None
    high: float | None = None
    log: bool = False

    @property
    def is_range(self) -> bool:
        """Whether the axis is a range (only Optuna samples ranges; a grid needs values)."""
        return self.values is None

    @property
    def integer(self) -> bool:
        """Whether a range samples integers (both of its ends are integers)."""
        return isinstance(self.low, int) and isinstance(self.high, int)

    def text(self) -> str:
        """The axis as ``--grid`` takes it."""
        if self.values is not None:
            return f"{self.key}={','.join(value_text(v) for v in self.values)}"
        return f"{self.key}={self.low}..{self.high}" + (":log" if self.log else "")


def parse_axis(text: str) -> Axis:
    """``key=a,b,c`` (values) or ``key=LOW..HIGH`` / ``key=LOW..HIGH:log`` (a range) -> an :class:`Axis`."""
    forms = "key=v1,v2,... or, with --search optuna, key=LOW..HIGH or key=LOW..HIGH:log"
    key, sep, rest = str(text).partition("=")
    key = key.strip()
    if not sep or not _KEY.match(key) or not rest.strip():
        raise ValueError(f"--grid {text!r} is not of the form {forms}")
    if key == "seed":
        raise ValueError(f"--grid {text!r}: seeds are given with --seeds (e.g. --seeds 0-4), not as a grid key")
    match = _RANGE.match(rest.strip())
    if match is not None:
        low, high = parse_value(match["low"]), parse_value(match["high"])
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in (low, high))
        if not numbers or not low < high:
            raise ValueError(f"--grid {text!r}: a range needs two finite numbers LOW < HIGH, got {low!r} and {high!r}")
        if match["log"] and low <= 0:
            raise ValueError(f"--grid {text!r}: a log range needs LOW > 0, got {low!r}")
        return Axis(key, low=low, high=high, log=bool(match["log"]))
    values = [parse_value(v) for v in _split_top_level(rest)]
    if any(v is None and raw.strip() == "" for v, raw in zip(values, _split_top_level(rest))):
        raise ValueError(f"--grid {text!r} has an empty value; {forms}")
    if len({value_text(v) for v in values}) != len(values):
        raise ValueError(f"--grid {text!r} names a value more than once")
    return Axis(key, values=values)


def value_text(value: Any) -> str:
    """A value as an override's right-hand side: JSON, which the config loader reads back exactly
    (``0.001``, ``true``, ``"ood"``, ``[64, 64]``)."""
    return json.dumps(value, separators=(",", ":"))


def label_text(value: Any) -> str:
    """A value in a group name (a directory name): strings unquoted, no path separators."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return re.sub(r"[^A-Za-z0-9_.,:+\-\[\]]", "_", text)


@dataclass
class SweepSpec:
    """What a sweep runs (see the module docstring); ``OUT/sweep.yaml`` holds it.

    ``config`` is the base config's path relative to the sweep directory (``base.yaml``);
    ``source`` the CONFIG the user gave (a record). ``trials`` (Optuna) is the number of
    configurations to sample. ``metric``/``mode``: what Optuna optimises and the summary ranks
    by (``metarl.report.aggregate.METRICS``). ``max_failures``: retries of a trial whose
    worker dies or that raises (each retry resumes from the trial's newest checkpoint).
    """

    source: str
    overrides: list[str] = field(default_factory=list)
    seeds: list[int] = field(default_factory=lambda: [0])
    grid: list[Axis] = field(default_factory=list)
    search: str = "grid"
    trials: int | None = None
    search_seed: int = 0
    metric: str = "final_return"
    mode: str = "max"
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_failures: int = 2
    config: str = BASE_CONFIG

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise ValueError(f"--search {self.search!r} is not a search; allowed: {', '.join(SEARCHES)}")
        if self.mode not in MODES:
            raise ValueError(f"--mode {self.mode!r} is not allowed; allowed: {', '.join(MODES)}")
        if not self.seeds:
            raise ValueError("--seeds names no seed; give at least one (e.g. --seeds 0-4)")
        keys = [a.key for a in self.grid]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise ValueError(f"--grid names {twice} more than once; give all values of a key in one --grid")
        both = sorted({o.partition("=")[0].strip() for o in self.overrides} & set(keys))
        if both:
            raise ValueError(f"{both} is both an override and a --grid key; give it in one place")
        if self.search == "optuna":
            if not self.grid:
                raise ValueError("--search optuna needs a search space: one --grid key=... per hyperparameter")
            if not isinstance(self.trials, int) or self.trials < 1:
                raise ValueError(f"--search optuna needs --trials N with N >= 1, got {self.trials!r}")
            listed = [a.text() for a in self.grid if a.values and any(isinstance(v, (list, dict)) for v in a.values)]
            if listed:
                raise ValueError(f"--grid {listed[0]}: Optuna chooses among numbers, strings and booleans, not lists")
        else:
            ranges = [a.text() for a in self.grid if a.is_range]
            if ranges:
                raise ValueError(f"--grid {ranges[0]} is a range, which only --search optuna samples; list values instead")
            if self.trials is not None:
                raise ValueError(f"--trials {self.trials} goes with --search optuna; a grid runs every combination")
        if self.cpus_per_trial <= 0 or self.gpus_per_trial < 0:
            raise ValueError(
                f"--cpus-per-trial {self.cpus_per_trial:g} and --gpus-per-trial {self.gpus_per_trial:g}: "
                "allowed: CPUs > 0 and GPUs >= 0 (fractions let trials share a device, e.g. 0.25)"
            )
        if self.max_failures < 0:
            raise ValueError(f"--max-failures {self.max_failures} is not allowed; allowed: an integer >= 0")

    @property
    def keys(self) -> list[str]:
        """The swept config keys, in the order given."""
        return [a.key for a in self.grid]


def save_spec(spec: SweepSpec, out: str | os.PathLike) -> Path:
    """Write ``OUT/sweep.yaml`` (safe YAML, atomically); returns its path."""
    data = {"format": FORMAT, **asdict(spec)}
    data["grid"] = [{k: v for k, v in asdict(a).items() if v is not None and (k != "log" or v)} for a in spec.grid]
    return atomic_write_bytes(Path(out) / SPEC_FILE, yaml.safe_dump(data, sort_keys=False, default_flow_style=None))


def load_spec(out: str | os.PathLike) -> SweepSpec:
    """Read ``OUT/sweep.yaml`` back (a ``FileNotFoundError`` names a directory without one)."""
    path = Path(out) / SPEC_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(out)!r} is not a sweep directory: it has no {SPEC_FILE}")
    data = yaml.safe_load(path.read_text())
    if not isinstance(data, dict) or data.pop("format", None) != FORMAT:
        raise ValueError(f"{path} is not a metarl sweep file (expected format {FORMAT!r})")
    data["grid"] = [Axis(**axis) for axis in data.get("grid") or []]
    return SweepSpec(**data)
