"""RL^2 with an unchanged sb3-contrib RecurrentPPO on metarl trials, evaluated like any metarl agent.

    python examples/sb3_rl2.py --steps 20000

TrialWrapper makes one gymnasium episode a whole trial (10 pulls of one 2-armed Bernoulli bandit,
a new bandit each trial), so the LSTM learns to adapt within a trial; SB3Agent puts the trained
model behind metarl's adaptation interface for the adaptation curve on held-out bandits.
"""

import argparse

import gymnasium as gym
from metarl.agents.sb3 import SB3Agent
from sb3_contrib import RecurrentPPO
from stable_baselines3.common.env_util import make_vec_env

import metarl  # noqa: F401  (registers the metarl/... environments)
from metarl.common.protocol import RandomAgent
from metarl.core.wrappers import TrialWrapper
from metarl.runner.evaluation import evaluate_adaptation

ENV_ID, ARMS = "metarl/BernoulliBandit-v0", 2


def make_trials() -> gym.Env:
    return TrialWrapper(gym.make(ENV_ID, num_arms=ARMS), trial_episodes=10)


def main(steps: int) -> None:
    env = make_vec_env(make_trials, n_envs=16, seed=0)
    model = RecurrentPPO(
        "MlpLstmPolicy", env, n_steps=20, batch_size=80, n_epochs=4, learning_rate=0.01, gamma=0.5, gae_lambda=0.9,
        policy_kwargs={"lstm_hidden_size": 32, "net_arch": []}, seed=0,
    )  # fmt: skip
    model.learn(steps)

    family = env.envs[0].unwrapped
    agent = SB3Agent(model, family, trial=True, name="sb3-recurrent_ppo-rl2")
    held_out = family.sample_tasks(500, seed=7)
    for policy in (agent, RandomAgent(family.action_space)):
        result = evaluate_adaptation(policy, ENV_ID, tasks=held_out, episodes=10, env_kwargs={"num_arms": ARMS})
        curve = " ".join(f"{s.mean:.2f}" for s in result.summary())
        print(f"{result.agent:>22}: return per pull 1..10: {curve}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20_000, help="training env steps (pulls)")
    main(parser.parse_args().steps)
