"""Reinforcement learning with IQN: replay buffer, loss, collectors, learner, schedules, injection, checkpoints."""
