"""Benchmark scripts; each writes a JSON report to benchmarks/results/."""
