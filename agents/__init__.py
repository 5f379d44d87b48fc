"""Meta-RL agents (PEARL, VariBAD, RL^2, MAML, CAVIA, oracles), imported as ``metarl.agents``."""

if __name__ != "metarl.agents":
    raise ImportError(
        f"this folder is the package metarl.agents and was imported as {__name__!r}; "
        "install metarl (pip install -e .) and import metarl.agents"
    )
