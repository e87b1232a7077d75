"""``albca config show``: the effective configuration, secrets shown only as set/unset."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from albca.cli.context import load_settings
from albca.cli.output import emit_fields, emit_json

if TYPE_CHECKING:
    from albca.settings import Settings

config_app = typer.Typer(help="Show albca's effective configuration.", no_args_is_help=True)


@config_app.command("show")
def show(
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Print every setting (ALBCA_* variables and their defaults) and what they select.

    Passphrases and passwords are shown as set or unset, never their values.
    """
    from pydantic import SecretStr

    from albca.settings import SECRET_SETTINGS

    settings = load_settings()
    values: dict[str, object] = {}
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name in SECRET_SETTINGS or isinstance(value, SecretStr):
            values[f"ALBCA_{name.upper()}"] = "set" if value is not None else "unset"
        else:
            values[f"ALBCA_{name.upper()}"] = None if value is None else str(value)
    where = f" in {settings.aws_region}" if settings.aws_region else ""
    api_table = settings.api_dynamodb_table
    derived = {
        "store": (
            f"dynamodb table {settings.dynamodb_table}{where}"
            if settings.store_kind == "dynamodb"
            else f"sqlite file {settings.sqlite_path}"
        ),
        "api_store": (
            f"dynamodb table {api_table}{where} (with the certificates)"
            if api_table is not None
            else f"sqlite file {settings.api_store_path}"
        ),
        "config": _config_source(settings),
        "publish": settings.publish_to or "not set",
    }
    if json_output:
        emit_json({"settings": values, "effective": derived})
        return
    emit_fields([*values.items(), *(("-> " + k, v) for k, v in derived.items())])


def _config_source(settings: Settings) -> str:
    from albca.home import CAHome

    if settings.config_file is not None:
        return str(settings.config_file)
    home = CAHome(settings.home)
    if home.config_path.exists() or settings.store_kind == "sqlite":
        return str(home.config_path)
    return "built-in defaults (no CA home, no ALBCA_CONFIG_FILE)"
