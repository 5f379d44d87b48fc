"""MuJoCo task-distributed families built on gymnasium's v5 environments.

Modules: ``half_cheetah`` (cheetah-vel, cheetah-dir), ``ant`` (ant-dir, ant-goal), ``humanoid``
(humanoid-dir), ``rand_params`` (walker/hopper with random physical parameters). Their
observation, reward and termination live once, as batched torch functions, in ``definitions``;
``base`` adapts a v5 env to them. Nothing is imported here, so registering the families by
``"module:Class"`` strings stays cheap.
"""
