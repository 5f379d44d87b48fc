"""metarl.runner: runs: the training loop, run directories and checkpoints, logging, evaluation, reference scores."""
