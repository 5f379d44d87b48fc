"""Meta-RL agents, imported as ``metarl.agents``; importing it registers them with ``metarl train``."""

if __name__ != "metarl.agents":
    raise ImportError(
        f"this folder is the package metarl.agents and was imported as {__name__!r}; "
        "install metarl (pip install -e .) and import metarl.agents"
    )

from metarl.train import register_agent

from .cavia import CAVIAConfig, make_cavia_trainer
from .classical import CLASSICAL_AGENTS
from .maml import MAMLConfig, make_maml_trainer
from .oracle import OracleConfig, make_oracle_trainer
from .pearl import PEARLConfig, make_pearl_trainer
from .rl2 import RL2Config, make_rl2_trainer
from .sb3 import SB3Config, make_sb3_trainer
from .varibad import VariBADConfig, make_varibad_trainer

register_agent("pearl", PEARLConfig, make_pearl_trainer)
register_agent("rl2", RL2Config, make_rl2_trainer)
register_agent("varibad", VariBADConfig, make_varibad_trainer)
register_agent("maml", MAMLConfig, make_maml_trainer)
register_agent("cavia", CAVIAConfig, make_cavia_trainer)
register_agent("oracle", OracleConfig, make_oracle_trainer)
register_agent("sb3", SB3Config, make_sb3_trainer)
for _name, (_config, _make_trainer) in CLASSICAL_AGENTS.items():
    register_agent(_name, _config, _make_trainer)

__all__ = ["CAVIAConfig", "MAMLConfig", "OracleConfig", "PEARLConfig", "RL2Config", "SB3Config", "VariBADConfig"]
