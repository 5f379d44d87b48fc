"""envs/ and agents/ install as metarl.envs and metarl.agents, never as top-level packages."""

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import importlib.util, sys, metarl, metarl.envs, metarl.agents, metarl.envs.mujoco
assert importlib.util.find_spec("envs") is None, "a top-level 'envs' is importable"
assert importlib.util.find_spec("agents") is None, "a top-level 'agents' is importable"
print(metarl.__file__, metarl.envs.__file__, metarl.agents.__file__, sep="\\n")
"""


def probe(cwd: Path, pythonpath: str | None = None) -> list[str]:
    env = {"PATH": "/usr/bin:/bin", "PYTHONNOUSERSITE": "1"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md", "metarl", "envs", "agents"):
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True, capture_output=True,
    )  # fmt: skip
    (whl,) = out.glob("metarl-*.whl")
    return whl


def test_wheel_maps_envs_and_agents_into_metarl(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top = {n.split("/")[0] for n in names}
    assert top == {"metarl", next(t for t in top if t.endswith(".dist-info"))}
    for required in ("metarl/envs/__init__.py", "metarl/envs/point.py", "metarl/envs/mujoco/__init__.py",
                     "metarl/agents/__init__.py", "metarl/cli.py"):  # fmt: skip
        assert required in names
    assert not any(n.startswith(("envs/", "agents/")) for n in names)


def test_installed_wheel_imports_metarl_envs_and_nothing_top_level(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True, capture_output=True,
    )  # fmt: skip
    assert sorted(p.name for p in target.iterdir() if not p.name.endswith(".dist-info")) in (["metarl"], ["bin", "metarl"])
    deps = sysconfig.get_paths()["purelib"]
    files = probe(tmp_path, f"{target}:{deps}")
    assert all(f.startswith(str(target / "metarl")) for f in files), files


def test_editable_install_imports_from_the_repo_folders(tmp_path):
    metarl_file, envs_file, agents_file = probe(tmp_path)
    assert Path(envs_file) == ROOT / "envs" / "__init__.py"
    assert Path(agents_file) == ROOT / "agents" / "__init__.py"
    site = Path(sysconfig.get_paths()["purelib"])
    assert not (site / "envs").exists() and not (site / "agents").exists()


def test_the_cli_answers_help_argument_and_config_errors_without_importing_torch(tmp_path):
    """`metarl --help`, a mistyped command and a mistyped config key start at once: torch, the
    families' modules and the agents are imported only by the commands that need them."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("agent: pearl\nenv: {id: metarl/PointRobot-v0}\ntrain: {total_stepz: 5}\n")
    script = (
        "import sys\nfrom metarl import cli\n"
        f"assert cli.main(['train', {str(bad)!r}]) == 2\n"
        "for argv in (['--help'], ['train', '--help'], ['trian'], ['evaluate']):\n"
        "    try:\n        cli.main(argv)\n    except SystemExit:\n        pass\n"
        "print(sorted(m for m in ('torch', 'mujoco', 'metarl.agents', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines()[-1] == "[]"
