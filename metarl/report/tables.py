"""Plain-text tables the command line prints: the registered families, an adaptation curve and
Meta-World's protocol."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from metarl.core.registry import registered_families

if TYPE_CHECKING:
    from gymnasium import spaces

    from metarl.report.results import AdaptationResult


def space_summary(space: spaces.Space) -> str:
    """Dimension of an observation or action space, e.g. ``17`` or ``discrete(5)``."""
    from gymnasium import spaces

    if isinstance(space, spaces.Discrete):
        return f"discrete({int(space.n)})"
    return "x".join(map(str, space.shape)) or "scalar"


def format_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain-text table with left-aligned columns."""
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)])


def envs_table(references: bool = False) -> str:
    """The table printed by ``metarl envs``: one row per registered family, or per group of
    families (``FamilySpec.group``), with its reference definition when ``references``."""
    import gymnasium as gym

    from metarl.core.tasks import describe_space

    families = registered_families()
    group_sizes = Counter(spec.group for spec in families.values() if spec.group)
    rows, shown = [], set()
    for env_id, spec in families.items():
        if spec.group in shown:
            continue
        label = env_id
        if spec.group:  # a group is one line, described by its first member
            shown.add(spec.group)
            label = f"{spec.group} ({group_sizes[spec.group]} families)"
        env = gym.make(env_id).unwrapped
        params = ", ".join(f"{k} {describe_space(s)}" for k, s in env.task_space.spaces.items())
        if spec.group:
            params = ", ".join(f"{k} (range per family)" for k in env.task_space.spaces)
        size = getattr(env, "task_set_size", lambda s: len(env.task_set(s)))
        splits = "/".join(str(size(s)) for s in env.available_splits())
        rows.append(
            [
                label,
                params,
                space_summary(env.observation_space),
                space_summary(env.action_space),
                str(spec.max_episode_steps),
                splits,
                *([getattr(env, "reference", "")] if references else []),
            ]
        )
        env.close()
    header = ["id", "task parameters", "obs", "action", "horizon", "tasks train/test[/ood]"]
    return format_table(header + (["reference"] if references else []), rows)


def curve_text(result: AdaptationResult) -> str:
    """The adaptation curve: mean return per episode with its 95% interval."""
    rows = [[str(e.episode), f"{e.mean:.3f}", f"[{e.ci_low:.3f}, {e.ci_high:.3f}]", str(e.n)] for e in result.summary()]
    title = f"{result.agent} on {result.env_id} ({result.split} tasks): return per episode of experience"
    return title + "\n" + format_table(["episode", "mean return", "95% CI", "tasks"], rows)


def success_text(result: AdaptationResult) -> str | None:
    """Meta-World's protocol per class (``metarl.report.success``), or ``None`` for a result
    that records no success."""
    if result.successes is None or result.groups is None or not result.evaluation_episodes:
        return None
    from metarl.report.success import success_report

    report = success_report(result)
    rows = [[r.name, str(r.tasks), f"{r.success_rate:.1%}", f"[{r.ci_low:.1%}, {r.ci_high:.1%}]", f"{r.mean_return:.1f}"]
            for r in [*report.classes, report.overall]]  # fmt: skip
    title = f"Meta-World protocol: success in the last {report.evaluation_episodes} of {result.episodes} episodes per task"
    return title + "\n" + format_table(["class", "tasks", "success", "95% CI", "mean return"], rows)
