"""Sub-apps of the `insight` command line."""
