"""Demonstration datasets: record, store, load."""
