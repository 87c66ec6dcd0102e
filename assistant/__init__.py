"""The grounded assistant."""
