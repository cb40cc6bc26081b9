"""Benchmarks of the reasoner (not timed tests); see bench/README.md."""
