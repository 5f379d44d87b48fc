"""The ``metarl`` command line."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from metarl.cli_sweep import add_sweep_parsers
from metarl.core.registry import registered_families
from metarl.report.tables import envs_table, format_table

# Each command imports what it needs (torch, gymnasium's envs, matplotlib) when it runs, so
# `metarl --help` and argument or config errors answer at once.
if TYPE_CHECKING:
    import numpy as np

    from metarl.core.tasks import Task
    from metarl.report.results import AdaptationResult


def random_rollout(env_id: str, split: str, task_index: int, episodes: int, seed: int) -> tuple[Task, list[float]]:
    """The task and the returns of ``episodes`` consecutive random-policy episodes on it."""
    import gymnasium as gym

    env = gym.make(env_id)
    tasks = env.unwrapped.task_set(split)
    if not 0 <= task_index < len(tasks):
        raise ValueError(f"--task-index {task_index} is out of range; the {split} set has {len(tasks)} tasks")
    env.action_space.seed(seed)
    returns = []
    for episode in range(episodes):
        options = {"task": tasks[task_index]} if episode == 0 else None
        env.reset(seed=seed if episode == 0 else None, options=options)
        total, done = 0.0, False
        while not done:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return tasks[task_index], returns


def _short(value: np.ndarray) -> str:
    """A task parameter for one line: its values when few, else its shape."""
    import numpy as np

    return np.array2string(value, precision=3) if value.size <= 6 else f"<array {value.shape}>"


def _cmd_envs(args: argparse.Namespace) -> int:
    print(envs_table(args.references))
    return 0


def _cmd_rollout(args: argparse.Namespace) -> int:
    if args.env_id not in registered_families():
        raise SystemExit(f"unknown environment {args.env_id!r}; registered: {', '.join(registered_families())}")
    task, returns = random_rollout(args.env_id, args.split, args.task_index, args.episodes, args.seed)
    shown = ", ".join(f"{k}={_short(v)}" for k, v in task.items())
    print(f"{args.env_id}: random policy on {args.split} task {args.task_index} ({shown})")
    for i, ret in enumerate(returns, 1):
        print(f"  episode {i}: return {ret:.3f}")
    return 0


def _cmd_bench(args: argparse.Namespace) -> int:
    from metarl.report.bench import DEFAULT_ASYNC_ENVS, format_bench, run_bench

    args.async_envs = DEFAULT_ASYNC_ENVS if args.async_envs is None else args.async_envs
    if args.env_id not in registered_families():
        raise ValueError(f"unknown environment {args.env_id!r}; registered: {', '.join(registered_families())}")
    kwargs = {"backend": args.backend} if args.backend else {}
    rows = run_bench(
        args.env_id, args.num_envs, args.device, args.steps, args.async_envs, args.max_seconds, **kwargs
    )
    print(f"{args.env_id}: env steps per second ({args.steps} steps or {args.max_seconds:g} s per row)")
    print(format_table(["implementation", "num_envs", "steps/s", "batched / this"], format_bench(rows)))
    return 0


def _print_summary(result: AdaptationResult, folder: Path) -> None:
    from metarl.report.tables import curve_text, success_text

    print(curve_text(result))
    if result.references:
        from metarl.runner.references import format_references

        print(format_references(result.references))
    success = success_text(result)
    if success:
        print(success)
    print(f"written to {folder}")


def _cmd_train(args: argparse.Namespace) -> int:
    from metarl.common.config import load_config

    # A config mistake is reported before torch and the agents load (the config is read first).
    cfg = load_config(args.config, args.overrides) if args.config and not args.resume else None
    from metarl.core.vector import resolve_device
    from metarl.report.adaptation import load_adaptation
    from metarl.runner.lock import run_lock
    from metarl.runner.preflight import check_run_config
    from metarl.runner.runs import check_new_run_dir, make_run_dir, resume_run
    from metarl.runner.train import make_trainer, train

    if args.resume:
        # argparse puts the first key=value into `config`: after --resume every positional is an override.
        overrides = [args.config, *args.overrides] if args.config else list(args.overrides)
        refused = ([f"--run-dir {args.run_dir}"] if args.run_dir else []) + [o for o in overrides if "=" not in o]
        if refused:
            raise ValueError(
                "--resume RUN_DIR uses the run's config.yaml: it takes no CONFIG or --run-dir, only train.* "
                f"key=value overrides; got {' '.join(refused)}"
            )
        run_dir = Path(args.resume)
        if not (run_dir / "config.yaml").is_file():
            raise FileNotFoundError(f"{str(run_dir)!r} is not a run directory: it has no config.yaml")
        with run_lock(run_dir):
            cfg, checkpoint = resume_run(run_dir, overrides, args.checkpoint)
            print(f"run directory: {run_dir}" + (f" (from {Path(checkpoint['path']).name})" if checkpoint else ""))
            trainer = train(cfg, run_dir, resume=checkpoint is not None, checkpoint=checkpoint, quiet=args.quiet)
        if checkpoint is not None and trainer.env_steps == checkpoint["step"] >= cfg.train.total_steps:
            print(f"the run had finished at {trainer.env_steps} env steps; raise train.total_steps to continue it")
    else:
        if args.checkpoint:
            raise ValueError("--checkpoint goes with --resume RUN_DIR")
        if not args.config:
            raise ValueError("give a CONFIG file (e.g. configs/pearl/point_robot.yaml) or --resume RUN_DIR")
        cfg = _with_imports(cfg, args.imports)
        # Everything that can be refused is refused before the run directory exists.
        check_run_config(cfg)
        trainer = make_trainer(cfg, resolve_device(cfg.device))
        if args.run_dir is None:
            run_dir = make_run_dir(cfg)  # a new directory of its own
        else:
            run_dir = Path(args.run_dir)
            check_new_run_dir(run_dir)  # before the lock file goes into a directory we may not use
        with run_lock(run_dir):
            if args.run_dir is not None:
                make_run_dir(cfg, run_dir)
            print(f"run directory: {run_dir}")
            trainer = train(cfg, run_dir, trainer=trainer, quiet=args.quiet)
    _print_summary(load_adaptation(run_dir), run_dir / "eval")
    print(f"trained {trainer.env_steps} env steps")
    return 0


def _with_imports(cfg: Any, modules: list[str]) -> Any:
    """``cfg`` that also names the ``--import`` modules (and the directories they came from when
    not installed), so the run's later commands import them again from any working directory."""
    for name in modules:
        if name not in cfg.imports:
            cfg.imports.append(name)
        origin = getattr(sys.modules[name], "__file__", None)
        folder = _import_root(origin, name) if origin else None
        if folder and "site-packages" not in folder and folder not in cfg.python_path:
            cfg.python_path.append(folder)
    return cfg


def _import_root(module_file: str, name: str) -> str:
    """The directory that makes ``name`` importable: the one above its top-level package."""
    path = Path(module_file).resolve().parent
    depth = name.count(".") + (Path(module_file).name == "__init__.py")
    for _ in range(depth):
        path = path.parent
    return str(path)


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from torch.utils.tensorboard import SummaryWriter

    from metarl.common.config import load_config
    from metarl.core.vector import resolve_device
    from metarl.report.results import EVAL_DIR
    from metarl.runner.runs import checkpoint_step, load_checkpoint
    from metarl.runner.train import evaluate_run, make_trainer, restore_trainer

    run_dir = Path(args.run_dir)
    cfg = load_config(run_dir / "config.yaml")
    if args.protocol == "metaworld":
        _check_protocol(cfg.env.id, args)
    trainer = make_trainer(cfg, resolve_device(cfg.device))
    checkpoint = load_checkpoint(args.checkpoint or run_dir, cfg)
    restore_trainer(trainer, checkpoint)
    episodes, evaluation = args.episodes or cfg.eval.episodes, None
    if args.protocol == "metaworld":  # adaptation episodes, then evaluation episodes, per held-out task
        episodes, evaluation = args.adaptation_episodes + args.evaluation_episodes, args.evaluation_episodes
    # Its own folder (and TensorBoard run) beside the training record, which stays untouched.
    folder = f"{EVAL_DIR}/{args.tasks}-{episodes}ep-step{checkpoint_step(checkpoint['path'])}"
    with SummaryWriter(log_dir=str(run_dir / folder)) as writer:
        result = evaluate_run(
            cfg, trainer, run_dir, writer, folder=folder, split=args.tasks, episodes=episodes, with_references=True,
            evaluation_episodes=evaluation,
        )  # fmt: skip
    _print_summary(result, run_dir / folder)
    return 0


def _check_protocol(env_id: str, args: argparse.Namespace) -> None:
    """``--protocol metaworld`` needs a family that reports success, and positive episode counts."""
    import gymnasium as gym
    from gymnasium.envs.registration import load_env_creator

    family = load_env_creator(gym.spec(env_id).entry_point)
    if "success" not in getattr(family, "info_keys", ()):
        raise ValueError(f"--protocol metaworld needs a family that reports success (Meta-World's); {env_id} does not")
    for name in ("adaptation_episodes", "evaluation_episodes"):
        value = getattr(args, name)
        if value < (1 if name == "evaluation_episodes" else 0):
            raise ValueError(f"--{name.replace('_', '-')} must be >= {int(name == 'evaluation_episodes')}, got {value}")


def _cmd_plot(args: argparse.Namespace) -> int:
    from metarl.report.adaptation import load_adaptation, plot_adaptation_curves
    from metarl.report.aggregate import is_runs_folder

    if any(is_runs_folder(run) for run in args.runs):  # a sweep's (or any) folder of runs: grouped over seeds
        from metarl.cli_sweep import plot_runs_folders

        return plot_runs_folders(args.runs, args.out)
    print(f"wrote {plot_adaptation_curves(args.runs, args.out)}")
    results = [load_adaptation(run) for run in args.runs]
    if all(r.successes is not None and r.groups is not None and r.evaluation_episodes for r in results):
        from metarl.report.success import plot_success_curves

        out = Path(args.out)
        print(f"wrote {plot_success_curves(results, out.with_name(f'{out.stem}-success{out.suffix}'))}")
    return 0


_MAX_CURVE_COLUMNS = 8


def _curve_columns(evaluated: list[int], requested: list[int] | None) -> list[int]:
    """The episodes ``metarl curve`` prints: those requested, else every one evaluated when they
    fit on a line, else the first and the last (MAML's 40 would not)."""
    if requested is None:
        return evaluated if len(evaluated) <= _MAX_CURVE_COLUMNS else [evaluated[0], evaluated[-1]]
    missing = [k for k in requested if k not in evaluated]
    if missing:
        raise ValueError(f"--episodes {missing} were not evaluated; allowed: {evaluated[0]}..{evaluated[-1]}")
    return requested


def _cmd_curve(args: argparse.Namespace) -> int:
    from metarl.report.curves import learning_curve
    from metarl.report.plotting import plot_learning_curves

    curves = {}
    for run in args.runs:
        curve = curves[str(run).rstrip("/")] = learning_curve(run)
        shown = _curve_columns(curve.episodes, args.episodes)
        print(f"{run}: mean meta-test return per episode of experience, against env steps and minutes of training")
        rows = [
            [f"{s:,}", f"{t / 60:.1f}", *(f"{row[curve.episodes.index(k)]:.2f}" for k in shown)]
            for s, t, row in zip(curve.steps, curve.seconds, curve.returns)
        ]
        print(format_table(["env steps", "minutes", *(f"episode {k}" for k in shown)], rows))
        if args.target is not None:
            i = curve.first_reaching(args.target)
            if i is None:
                print(f"the adapted return (last episode evaluated) never reached {args.target}")
            else:
                print(
                    f"the adapted return (last episode evaluated) reached {args.target} at {curve.steps[i]:,} env steps, "
                    f"{curve.seconds[i] / 60:.1f} minutes"
                )
    if args.out:
        print(f"wrote {plot_learning_curves(curves, args.out, args.target)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``metarl`` command."""
    parser = argparse.ArgumentParser(
        prog="metarl", description="metarl: task-distributed environments and meta-RL agents."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    plugins = argparse.ArgumentParser(add_help=False)
    plugins.add_argument(
        "--import",
        dest="imports",
        action="append",
        default=[],
        metavar="MODULE",
        help="import MODULE first, so the families it registers are available (repeatable)",
    )
    p = sub.add_parser("envs", parents=[plugins], help="list the registered task-distributed environments")
    p.add_argument("--references", action="store_true", help="add the reference definition of each family")
    p.set_defaults(func=_cmd_envs)
    p = sub.add_parser("rollout", parents=[plugins], help="run a random policy for a few episodes on one task")
    p.add_argument("env_id", help="a registered id, e.g. metarl/PointRobot-v0")
    p.add_argument("--split", default="test", choices=["train", "test", "ood"], help="task set (default: test)")
    p.add_argument("--task-index", type=int, default=0, help="index of the task in the set (default: 0)")
    p.add_argument("--episodes", type=int, default=3, help="consecutive episodes on the task (default: 3)")
    p.add_argument("--seed", type=int, default=0, help="seed of the environment and policy (default: 0)")
    p.set_defaults(func=_cmd_rollout)
    p = sub.add_parser("bench", parents=[plugins], help="env steps/s of the batched env against gymnasium's")
    p.add_argument("env_id", help="a registered id, e.g. metarl/PointRobot-v0")
    p.add_argument("--num-envs", type=int, default=4096, help="sub-envs of the batched env (default: 4096)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or auto (default: cpu)")
    p.add_argument("--backend", default=None, help="MuJoCo families: mujoco or warp")
    p.add_argument("--steps", type=int, default=200, help="steps per measurement (default: 200)")
    p.add_argument("--async-envs", type=int, default=None, help="processes of AsyncVectorEnv (default: 8)")
    p.add_argument("--max-seconds", type=float, default=10.0, help="time cap per measurement (default: 10)")
    p.set_defaults(func=_cmd_bench)
    p = sub.add_parser("train", parents=[plugins], help="train an agent from a YAML config")
    p.add_argument("config", nargs="?", help="YAML config, e.g. configs/pearl/point_robot.yaml")
    p.add_argument("overrides", nargs="*", help="key=value overrides with dotted keys, e.g. pearl.kl_lambda=1.0")
    p.add_argument("--run-dir", default=None, help="run directory (default: runs/<agent>-<env>-<time>-s<seed>)")
    p.add_argument(
        "--resume",
        default=None,
        metavar="RUN_DIR",
        help="continue RUN_DIR from its newest intact checkpoint; train.* overrides (e.g. train.total_steps=2e8) may follow",
    )
    p.add_argument(
        "--checkpoint", default=None, metavar="step_N.pt", help="with --resume: continue from this checkpoint instead"
    )
    p.add_argument("--quiet", action="store_true", help="no progress output (a bar on a terminal, else a line every 30 s)")
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("evaluate", parents=[plugins], help="adaptation curve of a trained run on held-out tasks")
    p.add_argument("run_dir", help="a run directory made by metarl train")
    p.add_argument("--tasks", default="test", choices=["test", "train", "ood"], help="task set (default: test)")
    p.add_argument("--episodes", type=int, default=None, help="episodes per task, K (default: the config's)")
    p.add_argument("--checkpoint", default=None, help="checkpoint file (default: the run's latest)")
    p.add_argument(
        "--protocol",
        default="curve",
        choices=["curve", "metaworld"],
        help="curve: K episodes per task (default); metaworld: Meta-World's adaptation then evaluation episodes, "
        "success rate per held-out class (Meta-World families)",
    )
    p.add_argument("--adaptation-episodes", type=int, default=10, help="with --protocol metaworld (default 10)")
    p.add_argument("--evaluation-episodes", type=int, default=3, help="with --protocol metaworld (default 3)")
    p.set_defaults(func=_cmd_evaluate)
    p = sub.add_parser("plot", parents=[plugins], help="overlay the adaptation curves of several runs")
    p.add_argument("runs", nargs="+", help="run directories (or their eval/adaptation.json), or sweep directories")
    p.add_argument("--out", required=True, help="output PNG file")
    p.set_defaults(func=_cmd_plot)
    p = sub.add_parser("curve", parents=[plugins], help="meta-test return against env steps of runs")
    p.add_argument("runs", nargs="+", help="run directories trained with eval.every_steps")
    p.add_argument("--target", type=float, help="report the first evaluation whose last evaluated episode's return reaches this")
    p.add_argument(
        "--episodes",
        type=int,
        nargs="+",
        default=None,
        metavar="K",
        help=f"episodes to print (default: all when at most {_MAX_CURVE_COLUMNS}, else the first and the last)",
    )
    p.add_argument("--out", default=None, help="also draw return against env steps of every run into this PNG file")
    p.set_defaults(func=_cmd_curve)
    add_sweep_parsers(sub, plugins)  # metarl sweep, metarl report
    return parser


def _user_errors() -> tuple[type[Exception], ...]:
    """The errors that are the user's input (reported in one line, exit status 2): metarl's own
    come from modules imported only by the commands that raise them."""
    found: list[type[Exception]] = [ValueError, FileNotFoundError, FileExistsError]
    for module, name in (("metarl.runner.runs", "CheckpointError"), ("metarl.runner.lock", "RunLockedError")):
        if module in sys.modules:
            found.append(getattr(sys.modules[module], name))
    return tuple(found)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``metarl`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # key=value overrides may come after options too (`train CONFIG --run-dir R seed=1`).
    if args.command in ("train", "sweep") and all("=" in e and not e.startswith("-") for e in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    # Warnings (a corrupt checkpoint skipped, a run restarted in place) read as messages, not code locations.
    formatwarning = warnings.formatwarning
    warnings.formatwarning = lambda message, category, *_: f"metarl {args.command}: warning: {message}\n"
    try:
        if args.imports and "" not in sys.path and os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # as `python -m` does, so a user's module in cwd imports
        for module in args.imports:
            importlib.import_module(module)
        return args.func(args)
    except Exception as err:
        if not isinstance(err, _user_errors()):
            raise
        print(f"metarl {args.command}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as stop:
        # Training stopped by a first SIGINT/SIGTERM has written a checkpoint and says how to go on.
        signum = getattr(stop, "signum", signal.SIGINT)
        print(f"metarl {args.command}: {stop or 'interrupted'}", file=sys.stderr)
        return 128 + signum
    finally:
        warnings.formatwarning = formatwarning


if __name__ == "__main__":
    sys.exit(main())
