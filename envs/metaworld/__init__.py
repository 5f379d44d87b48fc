"""Meta-World (Farama's ``metaworld`` 3.1.1) as metarl families, on mujoco 4.

Install: ``pip install --no-deps metaworld==3.1.1`` beside metarl (its ``mujoco==3.3.0`` pin
would replace the mujoco 4 metarl needs; ``.ci/install.sh`` does this). Families:
``metarl/ML1-<class>-v0`` for each of the 50 classes (e.g. ``metarl/ML1-reach-v0``),
``metarl/ML10-v0``, ``metarl/ML45-v0``, ``metarl/MT10-v0``, ``metarl/MT50-v0``
(``family.MetaWorldEnv``); ``compat`` makes Farama's classes run on mujoco 4; ``benchmarks``
holds the class lists, splits and Meta-World's task sets.
"""
