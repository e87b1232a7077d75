"""A CA home made by `albca init` (the CLI tests' fixtures)."""

from tests.cli.conftest import cli, initialized

__all__ = ["cli", "initialized"]
