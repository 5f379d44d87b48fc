"""Multi-seed runs and hyperparameter sweeps on Ray Tune (``metarl sweep``).

Each trial is an ordinary run directory, ``OUT/runs/<group>-seed<k>/``, trained by the same code
as ``metarl train`` (``metarl.runner.train.train``): it resumes, evaluates and plots on its own.
A sweep's specification (the config, overrides, seeds, grid or search space, search settings) is
saved as ``OUT/sweep.yaml`` before any trial starts, so ``metarl sweep --resume OUT`` runs the
same experiment again: finished trials are kept, unfinished ones resume from their own
checkpoints, failed ones are retried.

Modules, one concern each: ``spec`` (the specification, its parsing and its file), ``check``
(refusing bad input before Ray starts), ``trials`` (which trials a sweep has and how far each
got, read from the run directories), ``trainable`` (the Tune trainable: train or resume one
group's run directories), ``search`` (Optuna, warm-started from the runs on disk) and ``launch``
(the Ray instance, the Tuner, the summary). Ray and Optuna are imported only here, and only
when a sweep runs (``pip install "metarl[distributed]"``).
"""
