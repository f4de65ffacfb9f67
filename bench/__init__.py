"""Benchmarks: each prints the compared variants, measured side by side in one run, and their ratio."""
# Sets TensorFlow's CPU kernel options (model/__init__.py) before a benchmark imports TensorFlow.
import model  # noqa: F401
