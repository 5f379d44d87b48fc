"""metarl.core: the env framework: tasks, MetaEnv, the registry, analytic and batched faces, wrappers (no torch.nn)."""
