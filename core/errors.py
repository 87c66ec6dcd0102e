"""Errors raised for bad input: each names the file, column, row or value at fault."""

from __future__ import annotations


class InputError(Exception):
    """Bad user input (file, column, value). The CLI prints it on one line and exits 2."""


class WorkspaceError(Exception):
    """The workspace is missing, locked, or inconsistent with a request."""
