"""Files in a run directory never run code: pickles planted in a checkpoint, a config or an
evaluation summary are refused or inert, for every registered agent (issue 14).

A payload is an object whose ``__reduce__`` creates a marker file when it is unpickled. Each
agent trains a tiny run; then every top-level key, every string leaf and a sample of the other
leaves of its checkpoint (for the SB3 baselines also one leaf of every kind of field of the
trainer's state) get a payload in two forms: (a) the object itself, which the checkpoint loader
must refuse, and (b) its pickle bytes, which load (bytes are plain) but which restoring the
trainer must refuse or ignore (the SB3 trainer must refuse them). The marker must never appear.
"""

import io
import json
import pickle
import random
import re
import tokenize
from pathlib import Path

import pytest
import torch

from metarl.cli import main
from metarl.common.agent_registry import agent_config_type, registered_agents
from metarl.common.checks import ConfigError
from metarl.common.config import load_config
from metarl.report.adaptation import load_adaptation
from metarl.runner.runs import (
    CheckpointError,
    checkpoint_paths,
    latest_checkpoint,
    load_checkpoint,
    rng_state,
    set_rng_state,
)
from metarl.runner.train import make_trainer, train

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
CPU = torch.device("cpu")
#: Leaves planted per agent besides the top-level keys and the strings (a checkpoint holds
#: thousands: Python's RNG state alone is 625 integers); one per kind of field, kinds drawn at random.
SAMPLE = 20
TINY = ["device=cpu", "train.total_steps=1", "train.log_every=1", "eval.episodes=2"]
SB3_SAC = ["sb3.policy_kwargs={net_arch: [8]}", "sb3.steps_per_iteration=30", "train.total_steps=60",
           "sb3.hyperparameters={learning_starts: 10, batch_size: 8, buffer_size: 100}"]  # fmt: skip
#: A tiny run of every registered agent (and the SB3 baselines' other state: LSTM, normalizer, MuJoCo).
RUNS: dict[str, tuple[str, list[str]]] = {
    "pearl": ("pearl/point_robot.yaml", [
        "pearl.hidden_size=8", "pearl.encoder_hidden_size=8", "pearl.latent_dim=2", "pearl.meta_batch=2",
        "pearl.batch_size=8", "pearl.context_batch_size=8", "pearl.tasks_per_iteration=1", "pearl.initial_steps=20",
        "pearl.prior_steps=20", "pearl.extra_posterior_steps=20", "pearl.updates_per_iteration=2",
        "pearl.replay_capacity=100"]),
    "rl2": ("rl2/bernoulli_bandit.yaml", ["rl2.num_envs=4", "rl2.hidden_size=8", "rl2.ppo.num_minibatches=1"]),
    "varibad": ("varibad/bernoulli_bandit.yaml", [
        "varibad.num_envs=2", "varibad.trials_per_iteration=1", "varibad.precollect_len=0", "varibad.policy_layers=[8]",
        "varibad.policy_state_embedding_dim=4", "varibad.policy_latent_embedding_dim=4",
        "varibad.encoder_gru_hidden_size=8", "varibad.latent_dim=2", "varibad.reward_decoder_layers=[8]",
        "varibad.vae_buffer_size=10", "varibad.vae_batch_num_trajs=2", "varibad.ppo.num_minibatches=1"]),
    "maml": ("maml/point_robot.yaml", ["maml.hidden_sizes=[8]", "maml.meta_batch=2", "maml.inner_episodes=1"]),
    "cavia": ("cavia/point_robot.yaml", ["cavia.hidden_sizes=[8]", "cavia.meta_batch=2", "cavia.inner_episodes=1"]),
    "oracle": ("oracle/point_robot.yaml", ["oracle.num_envs=4", "oracle.hidden_sizes=[8]",
                                           "oracle.ppo.num_minibatches=1"]),
    "sb3": ("sb3/point_robot_sac_multitask.yaml", SB3_SAC),
    "sb3-recurrent_ppo-trial": ("sb3/bernoulli_bandit_recurrent_ppo_rl2.yaml", [
        "sb3.n_envs=2", "sb3.policy_kwargs={lstm_hidden_size: 8, net_arch: []}",
        "sb3.hyperparameters={n_steps: 8, batch_size: 16, n_epochs: 1}"]),
    "sb3-ppo-mujoco-normalize": ("sb3/cheetah_vel_ppo_multitask.yaml", [
        "sb3.normalize=true", "sb3.policy_kwargs={net_arch: [8]}", "eval.episodes=1",
        "sb3.hyperparameters={n_steps: 16, batch_size: 16, n_epochs: 1}"]),
    "thompson": ("classical/thompson_bernoulli.yaml", []),
    "ucb1": ("classical/ucb1_bernoulli.yaml", []),
    "greedy": ("classical/greedy_bernoulli.yaml", []),
    "gittins": ("classical/gittins_bernoulli.yaml", []),
    "bayes_optimal": ("classical/bayes_optimal_bernoulli.yaml", []),
    "psrl": ("classical/psrl_tabular_mdp.yaml", []),
    "beb": ("classical/beb_tabular_mdp.yaml", []),
    "random": ("classical/random_tabular_mdp.yaml", []),
}  # fmt: skip
#: The built-in agents (other test modules register toy agents of their own).
BUILT_IN_AGENTS = {a for a in registered_agents() if agent_config_type(a).__module__.startswith("metarl.agents.")}


class Payload:
    """Creates ``marker`` when unpickled (as an attacker's ``os.system`` would run a command)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"open({str(self.marker)!r}, 'w').close()",)


def leaves(tree, path=()):
    """``(path, value)`` of every leaf (tensors included) under dicts, lists and tuples."""
    if isinstance(tree, dict):
        return [leaf for key, value in tree.items() for leaf in leaves(value, (*path, key))]
    if isinstance(tree, (list, tuple)):
        return [leaf for i, value in enumerate(tree) for leaf in leaves(value, (*path, i))]
    return [(path, tree)]


def replaced(tree, path, value):
    """A copy of ``tree`` with ``value`` at ``path`` (only the containers along the path are copied)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(tree, dict):
        return {**tree, head: replaced(tree[head], rest, value)}
    items = list(tree)
    items[head] = replaced(tree[head], rest, value)
    return type(tree)(items)


def kind(path: tuple) -> tuple:
    """A leaf's kind of field: its path without list indices (one field of every sub-env is one
    kind), at most 5 deep (the entries of a state dict are one kind), MuJoCo's arrays one kind."""
    names = tuple(p for p in path if not isinstance(p, int))
    for collection in ("derived", "integration"):  # MjData fields and MuJoCo state elements
        if collection in names:
            names = names[: names.index(collection) + 1]
    return names[:5]


def planted_paths(ckpt, every_trainer_kind: bool):
    """Every top-level key (of the checkpoint, its state and the trainer's state), every string or
    bytes leaf, one leaf of each of ``SAMPLE`` kinds of field, and with ``every_trainer_kind`` one
    of every kind in the trainer's state."""
    paths = {(key,) for key in ckpt} | {("state", key) for key in ckpt["state"]}
    paths |= {("state", "trainer", key) for key in ckpt["state"]["trainer"]}
    all_leaves = leaves(ckpt)
    paths |= {path for path, value in all_leaves if isinstance(value, (str, bytes))}
    kinds: dict[tuple, list[tuple]] = {}
    for path, _ in all_leaves:
        kinds.setdefault(kind(path), []).append(path)
    rng = random.Random(0)
    chosen = sorted(kinds, key=str)
    rng.shuffle(chosen)
    if every_trainer_kind:
        paths |= {rng.choice(kinds[k]) for k in chosen if k[:2] == ("state", "trainer")}
    paths |= {rng.choice(kinds[k]) for k in chosen[:SAMPLE]}
    return sorted(paths, key=str)


def tiny_run(name: str, run_dir: Path):
    """Train ``name``'s tiny run in ``run_dir``; its config and its checkpoint file."""
    config, overrides = RUNS[name]
    cfg = load_config(CONFIGS / config, [*TINY, *overrides])
    train(cfg, run_dir)
    return cfg, latest_checkpoint(run_dir)


def test_every_registered_agent_has_a_tiny_run():
    assert BUILT_IN_AGENTS, "no built-in agent is registered"
    covered = {load_config(CONFIGS / config).agent for config, _ in RUNS.values()}
    assert covered == BUILT_IN_AGENTS, f"agents without a run here: {sorted(BUILT_IN_AGENTS - covered)}"


def test_the_payload_runs_code_when_unpickled(tmp_path):
    """The payload is live, in both forms: the test below would notice it running."""
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))
    assert marker.exists()
    marker.unlink()
    torch.save({"state": Payload(marker)}, tmp_path / "step_1.pt")
    torch.load(tmp_path / "step_1.pt", weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("name", list(RUNS))
def test_a_planted_checkpoint_never_runs_code(name, tmp_path):
    """(a) A payload object anywhere in a checkpoint: loading it is refused (CheckpointError).
    (b) Payload pickle bytes anywhere: the checkpoint loads, but restoring the trainer (as resume
    and evaluate do) refuses or ignores them; the SB3 trainer refuses every one of its fields."""
    cfg, path = tiny_run(name, tmp_path / "run")
    raw = torch.load(path, weights_only=True)  # the file as written, without what load_checkpoint adds
    marker = tmp_path / "payload-ran"
    planted = tmp_path / "planted" / path.name
    planted.parent.mkdir()
    trainer = make_trainer(cfg, CPU)
    torch.save(raw, planted)  # unplanted, the copy restores: the refusals below are the payload's doing
    trainer.load_state_dict(load_checkpoint(planted, cfg)["state"]["trainer"])
    global_rngs = rng_state()
    strict = name.startswith("sb3")
    try:
        plant_everywhere(name, raw, cfg, trainer, planted, marker, strict)
    finally:
        set_rng_state(global_rngs)


def plant_everywhere(name, raw, cfg, trainer, planted: Path, marker: Path, strict: bool) -> None:
    """Both forms of the payload at each of ``planted_paths``, each loaded from ``planted``."""
    for where in planted_paths(raw, every_trainer_kind=strict):
        torch.save(replaced(raw, where, Payload(marker)), planted)
        with pytest.raises(CheckpointError):
            load_checkpoint(planted, cfg)
        assert not marker.exists(), f"{name}: a payload object at {where} ran"

        torch.save(replaced(raw, where, pickle.dumps(Payload(marker))), planted)
        refused = False
        try:
            state = load_checkpoint(planted, cfg)["state"]
            trainer.load_state_dict(state["trainer"])
            set_rng_state(state["rng"])
        except Exception:  # a refusal: any error will do, as long as nothing ran
            refused = True
        assert not marker.exists(), f"{name}: payload bytes at {where} ran"
        if strict and where[:2] == ("state", "trainer"):
            assert refused, f"{name}: the trainer accepted bytes at {where}"


def test_planted_run_files_never_run_code_through_the_cli(tmp_path, capsys):
    """The SB3 run through ``metarl train``: a payload in its checkpoint (object or bytes) makes
    ``metarl evaluate`` and ``metarl train --resume`` fail or go on without it; a YAML Python tag in
    its config.yaml is a ConfigError; a payload in eval/adaptation.json is inert."""
    config, overrides = RUNS["sb3"]
    run = tmp_path / "run"
    assert main(["train", str(CONFIGS / config), *TINY, *overrides, "--run-dir", str(run)]) == 0
    marker = tmp_path / "payload-ran"
    path = latest_checkpoint(run)
    raw = torch.load(path, weights_only=True)
    commands = (["evaluate", str(run)], ["train", "--resume", str(run), "train.total_steps=90"])
    for payload in (Payload(marker), pickle.dumps(Payload(marker))):
        for where in (("state", "trainer", "envs", 0, 0), ("state", "trainer", "algorithm", "counters")):
            for command in commands:
                torch.save(replaced(raw, where, payload), path)
                try:
                    code = main(command)
                except Exception:  # refused with a traceback rather than a message
                    code = None
                assert not marker.exists(), f"metarl {command[0]} ran a payload planted at {where}"
                assert code != 0, f"metarl {' '.join(command)} accepted a checkpoint with a payload at {where}"
                for newer in checkpoint_paths(run):  # none, unless a resume got through
                    if newer != path:
                        newer.unlink()
    torch.save(raw, path)

    config_file = run / "config.yaml"
    text = config_file.read_text()
    code = f"open({str(marker)!r}, 'w').close()"
    tags = (f"!!python/object/apply:exec [{code!r}]", f"!!python/object/new:os.system ['touch {marker}']")
    for tagged in (tags[0] + "\n", *(re.sub(r"(?m)^seed: .*$", f"seed: {tag}", text) for tag in tags)):
        config_file.write_text(tagged)
        with pytest.raises(ConfigError):
            load_config(config_file)
        assert main(["evaluate", str(run)]) != 0
        assert not marker.exists()
    config_file.write_text(text)

    summary = run / "eval" / "adaptation.json"
    meta = json.loads(summary.read_text())
    meta["agent"] = {"py/reduce": [{"py/function": "builtins.exec"}, {"py/tuple": [code]}]}  # jsonpickle's form
    meta["pickle"] = pickle.dumps(Payload(marker)).hex()
    summary.write_text(json.dumps(meta))
    for read in (lambda: load_adaptation(run), lambda: main(["plot", str(run), "--out", str(tmp_path / "curve.png")])):
        try:
            read()
        except Exception:  # refusing the odd summary is fine; running it is not
            pass
        assert not marker.exists()
    capsys.readouterr()


#: Calls that unpickle (or may): none may appear in metarl's or the agents' source.
UNPICKLING = [
    r"\bpickle\.loads?\(", r"\bUnpickler\b", r"\bcloudpickle\.loads?\(", r"\bdill\b", r"\bjoblib\.load\(",
    r"weights_only\s*=\s*False", r"allow_pickle\s*=\s*True", r"\bload_from_zip_file\(", r"\bload_from_pkl\(",
    r"\b(PPO|SAC|RecurrentPPO|BaseAlgorithm|VecNormalize|ALGORITHMS\[[^]]*\]|algorithm)\.load\(",
    r"\byaml\.(unsafe_load|full_load)\(", r"Loader\s*=\s*yaml\.(Unsafe|Full)?Loader\b",
]  # fmt: skip


def code_only(source: str) -> str:
    """``source`` with its comments and string literals blanked (so prose about pickles is not code)."""
    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    chars = list(source)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.STRING):
            begin, end = starts[token.start[0] - 1] + token.start[1], starts[token.end[0] - 1] + token.end[1]
            chars[begin:end] = [c if c == "\n" else " " for c in chars[begin:end]]
    return "".join(chars)


def test_no_source_file_unpickles():
    """A static guard: metarl's and the agents' code never call an unpickler; every torch.load is
    weights-only."""
    for folder in ("metarl", "agents", "envs"):
        for file in sorted((ROOT / folder).rglob("*.py")):
            source = code_only(file.read_text())
            for pattern in UNPICKLING:
                assert not re.search(pattern, source), f"{file.relative_to(ROOT)} matches {pattern!r}"
            for call in re.findall(r"torch\.load\([^)]*\)", source):
                assert "weights_only=True" in call, f"{file.relative_to(ROOT)}: {call}"

