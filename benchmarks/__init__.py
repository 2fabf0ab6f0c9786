"""The performance suite: ``python -m benchmarks`` runs every ``bench_*.py`` script."""
