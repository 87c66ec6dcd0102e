"""Canonical data model, loaders for raw logs, and the on-disk workspace."""
