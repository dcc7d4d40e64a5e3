"""Benchmark predictors by how well they compress."""

__version__ = "0.1.0"
