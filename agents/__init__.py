"""Meta-RL agents, imported as ``metarl.agents``; importing it registers them with ``metarl train``."""

if __name__ != "metarl.agents":
    raise ImportError(
        f"this folder is the package metarl.agents and was imported as {__name__!r}; "
        "install metarl (pip install -e .) and import metarl.agents"
    )

from metarl.train import register_agent

from .pearl import PEARLConfig, make_pearl_trainer

register_agent("pearl", PEARLConfig, make_pearl_trainer)

from .cavia import CAVIAConfig, make_cavia_trainer  # noqa: E402
from .maml import MAMLConfig, make_maml_trainer  # noqa: E402

register_agent("maml", MAMLConfig, make_maml_trainer)
register_agent("cavia", CAVIAConfig, make_cavia_trainer)

from .oracle import OracleConfig, make_oracle_trainer  # noqa: E402

register_agent("oracle", OracleConfig, make_oracle_trainer)

from .rl2 import RL2Config, make_rl2_trainer  # noqa: E402

register_agent("rl2", RL2Config, make_rl2_trainer)

from .varibad import VariBADConfig, make_varibad_trainer  # noqa: E402

register_agent("varibad", VariBADConfig, make_varibad_trainer)

from .sb3 import SB3Config, make_sb3_trainer  # noqa: E402

register_agent("sb3", SB3Config, make_sb3_trainer)

from .classical import CLASSICAL_AGENTS  # noqa: E402

for _name, (_config, _make_trainer) in CLASSICAL_AGENTS.items():
    register_agent(_name, _config, _make_trainer)

__all__ = ["PEARLConfig"]
