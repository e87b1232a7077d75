"""How the CLI fails, and its root group.

One way to fail: a command raises a ``CAError`` (``fail`` raises ``CommandLineError``, one
for what the command line itself got wrong), and the root group maps every ``CAError`` to
one line on stderr, ``albca: error: ...``, and exit status 1, here and nowhere else: never
a traceback for a user's mistake.

A command line click cannot parse (an unknown option or command, a missing argument, a
bad value) is one line too, ``albca: error: No such option: --jsn. Did you mean --json?``,
with click's exit status 2 for usage errors: the suggestion is the closest option the
command shows, whichever group loaded it (a typo of a hidden old spelling, ``--tl`` for
``--ttl``, is answered with the name to use now, ``--lifetime``).

The root group also loads commands lazily (``LazyGroup``): ``albca --help`` lists them from
their one-line help without importing their modules.
"""

from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass
from typing import Any, ClassVar, NoReturn

import typer
from typer.core import TyperCommand, TyperGroup

from albca.ca.errors import CAError

__all__ = ["CommandLineError", "fail", "LazyCommand", "LazyGroup"]


class CommandLineError(CAError):
    """What was given on the command line (an option, a file) cannot be used."""

    code = "command_line"


def fail(message: str) -> NoReturn:
    """Stop the command: ``albca: error: message`` on stderr, exit status 1."""
    raise CommandLineError(message)


# The top-level module a command imports -> the extra of pyproject.toml that installs it.
# The plain install (`pip install albca`) has cryptography, typer, rich and pydantic only.
EXTRA_OF_MODULE = {
    "fastapi": "api",
    "starlette": "api",
    "uvicorn": "api",
    "mangum": "api",
    "jwt": "api",
    "fastapi_offline": "api",
    "boto3": "aws",
    "botocore": "aws",
    "pynamodb": "aws",
    "moto": "emulated",
    "flask": "emulated",
    "flask_cors": "emulated",
}


def missing_extra(exc: ModuleNotFoundError) -> CommandLineError | None:
    """The one line for a library an optional extra installs, or None for any other."""
    top = (exc.name or "").partition(".")[0]
    extra = EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return CommandLineError(
        f"this command needs {top}, which albca's {extra!r} extra installs: "
        f"pip install 'albca[{extra}]'"
    )


def _report(exc: CAError) -> NoReturn:
    typer.echo(f"albca: error: {exc.message}", err=True)
    raise typer.Exit(1)


# click's UsageError, the base of BadParameter: found through typer's public name, because
# it lives in click itself or (typer 0.20 and later) in typer's private copy of click.
UsageError: type[Exception] = typer.BadParameter.__mro__[1]
USAGE_EXIT_STATUS = 2  # click's, for a command line it cannot use


def usage_line(exc: Any) -> str:
    """The one line for a click usage error; for an unknown option, the closest option the
    command shows, in the form ``Did you mean --json?``."""
    option = getattr(exc, "option_name", None)
    if option is None or getattr(exc, "possibilities", None) is None:
        return " ".join(str(exc.format_message()).split())
    names = _option_names(exc.ctx)
    closest = difflib.get_close_matches(option, list(names), n=1, cutoff=0.6)
    hint = f" Did you mean {names[closest[0]]}?" if closest else ""
    return f"No such option: {option}.{hint}"


# The help of a hidden old spelling (``albca.cli.renamed``): a typo of it points at the
# option's name now.
OLD_NAME_HELP = "Deprecated: the old name of "


def _option_names(ctx: Any) -> dict[str, str]:
    """What a typed option may have meant -> the option to suggest: every option the
    command shows, and each hidden old spelling -> its new name (never --help)."""
    if ctx is None:
        return {}
    names: dict[str, str] = {}
    for param in ctx.command.get_params(ctx):
        spellings = [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]
        help_text = getattr(param, "help", None) or ""
        if getattr(param, "hidden", False):
            if not help_text.startswith(OLD_NAME_HELP):
                continue
            new = help_text.removeprefix(OLD_NAME_HELP).rstrip(".")
            names.update({spelling: new for spelling in spellings})
        else:
            names.update({spelling: spelling for spelling in spellings})
    for help_option in ctx.help_option_names:
        names.pop(help_option, None)
    return {typed: meant for typed, meant in names.items() if typed.startswith("-")}


def _report_usage(exc: Any) -> NoReturn:
    if type(exc).__name__ == "NoArgsIsHelpError":  # a group given nothing: its help
        raise exc
    typer.echo(f"albca: error: {usage_line(exc)}", err=True)
    raise typer.Exit(USAGE_EXIT_STATUS)


@dataclass(frozen=True)
class LazyCommand:
    """A command of the root group, imported when it is run (or its help is asked for)."""

    name: str
    module: str  # in albca.cli.commands
    attribute: str  # a Typer app (a group) or a function (one command)
    short_help: str

    def load(self) -> Any:
        """The command as typer builds it (a click command or group)."""
        module = importlib.import_module(f"albca.cli.commands.{self.module}")
        target = getattr(module, self.attribute)
        if isinstance(target, typer.Typer):
            return typer.main.get_group(target)  # a group even with one command
        single = typer.Typer()
        single.command(self.name)(target)
        return typer.main.get_command(single)


class LazyGroup(TyperGroup):
    """The root command group: its commands come from ``commands_to_load`` and are imported
    on first use; every ``CAError`` a command raises is reported in one line."""

    commands_to_load: ClassVar[tuple[LazyCommand, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = {entry.name: entry for entry in self.commands_to_load}
        self._listing = False
        for entry in self.commands_to_load:
            # What help and suggestions see until the command is loaded.
            self.commands[entry.name] = TyperCommand(
                entry.name, help=entry.short_help, short_help=entry.short_help
            )

    # ctx and the commands are typed Any: their classes live in typer's vendored copy of
    # click, a private module.
    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        entry = self._lazy.pop(cmd_name, None) if not self._listing else None
        if entry is not None:
            self.commands[cmd_name] = entry.load()
        return super().get_command(ctx, cmd_name)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        self._listing = True  # list the commands from their short help: import nothing
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def shell_complete(self, ctx: Any, incomplete: str) -> Any:
        # Completing a command name lists the names from their short help, importing no
        # module (click would load every command to read its help); completing past a
        # name resolves that command through get_command, which loads it.
        self._listing = True
        try:
            return super().shell_complete(ctx, incomplete)
        finally:
            self._listing = False

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, args)
        except UsageError as exc:  # the root's own options (albca --aws-profil)
            _report_usage(exc)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:  # every command's and group's, loaded lazily or not
            _report_usage(exc)
        except CAError as exc:
            _report(exc)
        except ModuleNotFoundError as exc:
            # An optional library is not installed: name the extra, no traceback.
            mapped = missing_extra(exc)
            if mapped is None:
                raise
            _report(mapped)
