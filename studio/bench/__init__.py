"""Benchmarks: speed of Studio's synthesis path, measured as ratios within one run."""
