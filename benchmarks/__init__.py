"""Benchmarks: scripts that measure and print tables; never run by pytest."""
