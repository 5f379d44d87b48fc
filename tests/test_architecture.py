"""The layers of docs/architecture.md: imports point down only, no import cycles, no oversized files."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Layer of a module -> the layers it may import (besides itself and the standard/third-party libraries).
ALLOWED = {
    "core": {"core"},
    "envs": {"core", "envs"},
    "common": {"core", "common"},
    "agents": {"core", "common", "envs", "agents"},
    "report": {"core", "common", "report"},
    "runner": {"core", "common", "report", "runner"},
    # Ray Tune trials above the runner (each trial is a run); only the CLI imports it.
    "sweep": {"core", "common", "report", "runner", "sweep"},
    "cli": {"core", "common", "report", "runner", "sweep", "cli"},
    "package": {"core", "envs", "package"},  # metarl/__init__.py registers the built-in families
}
MAX_LINES = 450


def modules() -> dict[str, Path]:
    """Dotted name -> file, for every module of the package (agents/ and envs/ as metarl.agents, metarl.envs)."""
    out = {}
    for folder, prefix in (("metarl", "metarl"), ("agents", "metarl.agents"), ("envs", "metarl.envs")):
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            parts = parts[:-1] if parts[-1] == "__init__" else parts
            out[".".join((prefix, *parts))] = path
    return out


def layer(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    return {"__main__": "cli", "cli_sweep": "cli"}.get(parts[1], parts[1])


def imports(path: Path, module: str) -> set[str]:
    """The metarl modules ``path`` imports at module level (not inside functions), resolved."""
    found = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("metarl")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up level - 1 packages
                package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
                package = package[: len(package) - (node.level - 1)]
                base = ".".join([*package, base] if base else package)
            if base.startswith("metarl"):
                found |= {f"{base}.{a.name}" for a in node.names} | {base}
    return found


def test_imports_point_down_the_layers():
    known = modules()
    wrong = []
    for module, path in known.items():
        for target in imports(path, module):
            target = next((t for t in (target, target.rsplit(".", 1)[0]) if t in known), None)
            if target and layer(target) not in ALLOWED[layer(module)]:
                wrong.append(f"{module} -> {target}")
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)


def test_no_module_level_import_cycles():
    known = modules()
    graph = {}
    for module, path in known.items():
        targets = {next((t for t in (x, x.rsplit(".", 1)[0]) if t in known), None) for x in imports(path, module)}
        graph[module] = {t for t in targets if t and t != module and not module.startswith(t + ".")}
    state: dict[str, int] = {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = 1
        for nxt in graph[node]:
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(nxt):], nxt]))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [module])


def test_no_source_file_is_too_long_to_hold_in_ones_head():
    long = {str(p.relative_to(ROOT)): n for p in modules().values() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not long, f"files over {MAX_LINES} lines: {long}"
