"""Benchmarks: each prints the compared variants, measured side by side in one run, and their ratio."""
