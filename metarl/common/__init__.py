"""metarl.common: pieces agents share: the agent protocol, strict config dataclasses, on-policy kernels, replay, ensembles."""
