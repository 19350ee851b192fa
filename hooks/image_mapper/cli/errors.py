"""The error a command reports to its user."""

from __future__ import annotations


class CommandError(Exception):
    """An error for the user: printed as one line on stderr, exit status 1."""


SERVER_EXTRA = "image-mapper[server]"
"""The extra that installs what only the servers need (Flask, waitress, uvicorn, the Kubernetes
client, prometheus-client, cryptography, msgspec); the offline commands need none of it."""


def server_dependencies_missing(command: str, error: ModuleNotFoundError) -> CommandError:
    """The error for a server command run where the server extra is not installed."""
    return CommandError(f"{command} needs the server dependencies, and this installation has "
                        f"not got them (no module named {error.name!r}): install them with "
                        f"pip install '{SERVER_EXTRA}'")
