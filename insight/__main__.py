"""`python -m insight` runs the command line."""

from insight.cli import app

app()
