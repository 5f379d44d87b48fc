"""Meta-RL agents, imported as ``metarl.agents``: one package per algorithm.

``metarl.common.agent_registry`` names each built-in agent's config and trainer factory, so an
agent's package is imported only when a run uses it.
"""

if __name__ != "metarl.agents":
    raise ImportError(
        f"this folder is the package metarl.agents and was imported as {__name__!r}; "
        "install metarl (pip install -e .) and import metarl.agents"
    )
