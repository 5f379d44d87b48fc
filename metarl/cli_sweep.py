"""``metarl sweep``, ``metarl report`` and ``metarl plot SWEEP_DIR``: their arguments and bodies (``metarl.cli`` adds them).

Ray and Optuna are imported only by ``metarl sweep`` (the ``distributed`` extra); ``report``
needs Optuna only for an Optuna sweep's importances.
"""

from __future__ import annotations

import argparse
import json
import shutil
from pathlib import Path
from typing import Any

from metarl.report.tables import format_table

__all__ = ["add_sweep_parsers", "cmd_report", "cmd_sweep", "plot_runs_folders"]

#: Options of ``metarl sweep`` that define the experiment: fixed by ``sweep.yaml`` once it exists.
_EXPERIMENT_OPTIONS = ("grid", "search", "trials", "metric", "mode", "search_seed")
_SEEDS_DEFAULT = "0"


def _require_distributed() -> None:
    """A one-line error, not a traceback, where the ``distributed`` extra is not installed."""
    import importlib.util

    missing = [name for name in ("ray", "optuna") if importlib.util.find_spec(name) is None]
    if missing:
        raise ValueError(
            f"metarl sweep runs on Ray Tune and Optuna ({', '.join(missing)} not installed): "
            'pip install "metarl[distributed]"'
        )


def _spec_from_args(args: argparse.Namespace) -> Any:
    """The :class:`SweepSpec` of a new sweep's command line (parsing refuses malformed input)."""
    from metarl.sweep.spec import SweepSpec, parse_axis, parse_seeds

    return SweepSpec(
        source=str(Path(args.config).resolve()),
        overrides=list(args.overrides),
        seeds=parse_seeds(args.seeds or _SEEDS_DEFAULT),
        grid=[parse_axis(text) for text in args.grid],
        search=args.search or "grid",
        trials=args.trials,
        search_seed=args.search_seed or 0,
        metric=args.metric or "final_return",
        mode=args.mode or "max",
        cpus_per_trial=args.cpus_per_trial if args.cpus_per_trial is not None else 1.0,
        gpus_per_trial=args.gpus_per_trial or 0.0,
        max_failures=args.max_failures if args.max_failures is not None else 2,
    )


def _import_overrides(config: str, modules: list[str]) -> list[str]:
    """``--import`` modules as ``imports``/``python_path`` overrides, so every trial imports them
    (on every node) as ``metarl train --import`` records them in a run's config."""
    if not modules:
        return []
    from metarl.cli import _with_imports
    from metarl.common.config import load_config

    cfg = _with_imports(load_config(config), modules)
    return [f"imports={json.dumps(cfg.imports)}", f"python_path={json.dumps(cfg.python_path)}"]


def _new_sweep(args: argparse.Namespace) -> tuple[Any, Path]:
    """Check a new sweep's input, then write ``OUT/base.yaml`` and ``OUT/sweep.yaml``."""
    from metarl.sweep.check import check_new_sweep_dir, check_sweep
    from metarl.sweep.spec import BASE_CONFIG, save_spec

    if not args.config:
        raise ValueError("give a CONFIG file (e.g. configs/rl2/demo.yaml) and --out DIR, or --resume DIR")
    if not args.out:
        raise ValueError("give --out DIR: the sweep's directory (its runs go to DIR/runs/)")
    refused = [o for o in args.overrides if "=" not in o]
    if refused:
        raise ValueError(f"overrides are key=value (e.g. rl2.hidden_size=64); got {' '.join(refused)}")
    args.overrides = [*args.overrides, *_import_overrides(args.config, args.imports)]
    spec = _spec_from_args(args)
    out = Path(args.out).resolve()
    check_new_sweep_dir(out)
    check_sweep(spec, args.config)  # every refusal before Ray starts and before OUT is written
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.config, out / BASE_CONFIG)
    save_spec(spec, out)
    return spec, out


def _resumed_sweep(args: argparse.Namespace) -> tuple[Any, Path]:
    """The saved spec of ``--resume OUT``; resources and retries may change, the experiment may not."""
    from metarl.sweep.spec import load_spec

    given = [f"--{name.replace('_', '-')}" for name in _EXPERIMENT_OPTIONS if getattr(args, name)]
    given += ["CONFIG and overrides"] * bool(args.config or args.overrides) + ["--seeds"] * bool(args.seeds)
    given += ["--out"] * bool(args.out)
    if given:
        raise ValueError(
            f"--resume DIR runs the sweep saved in DIR/sweep.yaml; it takes no {', '.join(given)} "
            "(only --address, --num-cpus, --cpus-per-trial, --gpus-per-trial, --max-failures)"
        )
    out = Path(args.resume).resolve()
    spec = load_spec(out)
    for name in ("cpus_per_trial", "gpus_per_trial", "max_failures"):
        if getattr(args, name) is not None:
            setattr(spec, name, getattr(args, name))
    spec.__post_init__()  # the changed resources are checked as a new sweep's are
    return spec, out


def cmd_sweep(args: argparse.Namespace) -> int:
    """``metarl sweep``: exit status 0 when every run finished, 1 when any failed or is unfinished."""
    _require_distributed()
    spec, out = _resumed_sweep(args) if args.resume else _new_sweep(args)
    if args.num_cpus is not None and args.address:
        raise ValueError("--num-cpus sizes the local Ray instance; a cluster given by --address has its own CPUs")
    from metarl.sweep.launch import run_sweep

    points = len(spec.seeds) * (spec.trials or 1)
    for axis in spec.grid if spec.search == "grid" else []:
        points *= len(axis.values)
    print(f"sweep {out}: {points} run(s), {spec.search} search, {len(spec.seeds)} seed(s) each", flush=True)
    outcomes = run_sweep(spec, out, address=args.address, num_cpus=args.num_cpus)
    rows = [
        [o.name, o.status + (" (kept)" if o.kept else ""), "" if o.metric is None else f"{o.metric:.4g}", o.error or ""]
        for o in outcomes
    ]
    print(format_table(["run", "status", spec.metric, "error"], rows))
    failed = [o for o in outcomes if o.status == "failed"]
    unfinished = [o for o in outcomes if o.status == "unfinished"]
    finished = len(outcomes) - len(failed) - len(unfinished)
    print(f"{finished} finished, {len(failed)} failed, {len(unfinished)} unfinished; runs in {out / 'runs'}")
    if failed:
        print(f"tracebacks in {out / 'errors'}; after a fix, retry the failed runs with: metarl sweep --resume {out}")
    elif unfinished:
        print(f"continue with: metarl sweep --resume {out}")
    if finished:
        print(f"results: metarl report {out}")
    return 1 if failed or unfinished else 0


def cmd_report(args: argparse.Namespace) -> int:
    """``metarl report DIR...``: print the Markdown table and write the report's files."""
    from metarl.report.summary import REPORT_DIR, build_report, markdown, write_report

    report = build_report(args.dirs, args.metric, args.mode)
    folder = Path(args.out) if args.out else Path(args.dirs[0]) / REPORT_DIR
    written = write_report(report, folder)
    print(markdown(report), end="")
    print(f"wrote {', '.join(str(p) for p in written)}")
    return 0


def plot_runs_folders(runs: list[str], out: str) -> int:
    """``metarl plot`` given a sweep directory or a folder of runs: one curve per group (mean over
    seeds, 95% band across seeds), beside the run directories given on their own."""
    from metarl.common.files import atomic_write_bytes
    from metarl.report.plotting import figure_png
    from metarl.report.summary import build_report, groups_figure, success_groups_figure

    report = build_report(runs)
    if not report.groups:
        raise ValueError(f"no evaluated runs in {', '.join(runs)}")
    target = Path(out)
    print(f"wrote {atomic_write_bytes(target, figure_png(groups_figure(report)))}")
    if any(s.success_curve is not None for s in report.groups):
        success = target.with_name(f"{target.stem}-success{target.suffix}")
        print(f"wrote {atomic_write_bytes(success, figure_png(success_groups_figure(report)))}")
    return 0


def add_sweep_parsers(sub: Any, plugins: argparse.ArgumentParser) -> None:
    """Add ``metarl sweep`` and ``metarl report`` to the ``metarl`` command's subparsers."""
    p = sub.add_parser("sweep", parents=[plugins], help="multi-seed runs and hyperparameter sweeps on Ray Tune")
    p.add_argument("config", nargs="?", help="YAML config, e.g. configs/rl2/demo.yaml")
    p.add_argument("overrides", nargs="*", help="key=value overrides shared by every run, e.g. train.total_steps=2e5")
    p.add_argument("--out", default=None, metavar="DIR", help="the sweep's directory (runs in DIR/runs/<group>-seed<k>)")
    p.add_argument("--seeds", default=None, help="seeds of every configuration: 0-9, 0,3,7 or 5 (default: 0)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2",
                   help="a swept key: a list of values; with --search optuna also LOW..HIGH or LOW..HIGH:log (repeatable)")
    p.add_argument("--search", default=None, choices=["grid", "optuna"], help="grid: every combination (default); optuna: sample --trials")
    p.add_argument("--trials", type=int, default=None, help="with --search optuna: configurations to sample")
    p.add_argument("--search-seed", type=int, default=None, help="with --search optuna: the sampler's seed (default 0)")
    p.add_argument("--metric", default=None, help="final_return (default), mean_return, return_ep<k> or success_rate")
    p.add_argument("--mode", default=None, choices=["max", "min"], help="maximise (default) or minimise the metric")
    p.add_argument("--address", default=None, help="an existing Ray cluster (HOST:PORT of `ray start --head`); default: a local instance")
    p.add_argument("--num-cpus", type=int, default=None, help="CPUs of the local Ray instance (default: all this process may use)")
    p.add_argument("--cpus-per-trial", type=float, default=None, help="CPUs reserved per trial (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=None, help="GPUs per trial; fractions share one, e.g. 0.25 (default 0)")
    p.add_argument("--max-failures", type=int, default=None, help="retries of a failing trial, each from its checkpoint (default 2)")
    p.add_argument("--resume", default=None, metavar="DIR", help="continue the sweep in DIR: finished runs kept, others resumed")
    p.set_defaults(func=cmd_sweep)
    p = sub.add_parser("report", parents=[plugins], help="tables and figures of runs grouped across seeds")
    p.add_argument("dirs", nargs="+", help="a sweep directory, a folder of runs, or run directories")
    p.add_argument("--metric", default=None, help="rank groups by this metric (default: the sweep's, else final_return)")
    p.add_argument("--mode", default=None, choices=["max", "min"], help="whether a higher metric is better (default max)")
    p.add_argument("--out", default=None, help="folder of the report's files (default: DIR/report)")
    p.set_defaults(func=cmd_report)
