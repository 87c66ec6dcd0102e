"""behavior-insight: shared settings, logging and the `insight` command line."""

__version__ = "0.1.0"
