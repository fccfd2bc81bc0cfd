"""fitglme performance benchmarks against lme4 (``python -m benchmarks --help``; docs/performance.md)."""
