"""Pretraining: visual (ae, vae, simclr) and behavioural cloning, and the artifacts RL injects."""
