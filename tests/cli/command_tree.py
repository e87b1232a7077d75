"""The command tree as click sees it, with lazily loaded commands loaded."""

from __future__ import annotations

from typing import Any


def subcommands(command: Any) -> dict[str, Any]:
    """A group's commands by name (each loaded), or {} for a command."""
    if not hasattr(command, "list_commands"):
        return {}
    # Neither albca's root group nor typer's groups read the context here.
    return {name: command.get_command(None, name) for name in command.list_commands(None)}
