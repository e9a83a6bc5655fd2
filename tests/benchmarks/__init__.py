"""The performance benchmark (issue 8): ``python -m tests.benchmarks.run --help``."""
