"""The error a command reports to its user."""

from __future__ import annotations


class CommandError(Exception):
    """An error for the user: printed as one line on stderr, exit status 1."""
