"""``albca token create|list|revoke``: the API tokens callers authenticate with."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from albca.cli.context import cli_actor, load_settings, parse_lifetime
from albca.cli.errors import fail
from albca.cli.output import emit_fields, emit_json, emit_table
from albca.cli.renamed import old_name_help

if TYPE_CHECKING:
    from datetime import datetime

    from albca.api.stores import TokenStore
    from albca.ca.stores.protocol import CertificateStore
    from albca.settings import Settings

token_app = typer.Typer(
    help="API tokens: create (shown once), list (never the secret), revoke.",
    no_args_is_help=True,
)
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


@token_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="A unique name; the audit trail shows it.")],
    profile: Annotated[
        list[str] | None,
        typer.Option("--profile", help="Profile the token may issue from (repeatable)."),
    ] = None,
    names: Annotated[
        list[str] | None,
        typer.Option(
            "--names",
            help="Names the token may ask for: DNS globs ('*.svc.internal', "
            "'**.prod.internal') or IP networks (10.0.0.0/8); repeatable or comma-separated.",
        ),
    ] = None,
    cn: Annotated[
        list[str] | None,
        typer.Option("--cn", help="Common name globs (default: the DNS globs of --names)."),
    ] = None,
    lifetime: Annotated[
        str | None, typer.Option(help="How long the token lives: 90d (the default), 12h, 30m.")
    ] = None,
    ttl: Annotated[str | None, typer.Option(hidden=True, help=old_name_help("--lifetime"))] = None,
    scopes: Annotated[
        list[str] | None,
        typer.Option(
            "--scopes",
            help="issue, renew (its own certificates), renew-any, revoke, read (comma-separated).",
        ),
    ] = None,
    allow_wildcards: Annotated[
        bool, typer.Option(help="Allow wildcard DNS names (*.example) in certificates.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Create an API token. Its secret is printed once: store it now.

    Example: albca token create ci --profile server --names '*.svc.internal'
    --scopes issue,renew --lifetime 30d
    """
    from albca.api.tokens import Scope, new_token
    from albca.ca.records import AuditEvent
    from albca.cli.renamed import renamed

    valid_for = parse_lifetime(renamed(lifetime, ttl, new="--lifetime", old="--ttl") or "90d")
    assert valid_for is not None
    if valid_for <= timedelta(0):
        fail(f"--lifetime: {lifetime or ttl!r} must be longer than zero")
    try:
        wanted = Scope.parse_many(scopes or ["issue"])
    except ValueError as exc:
        fail(f"--scopes: {exc}")
    if Scope.ISSUE in wanted and not profile:
        fail("--profile: a token with the issue scope needs at least one profile")
    settings = load_settings()
    known = _profile_names(settings)
    for chosen in profile or []:
        if chosen not in known:
            fail(f"--profile: no profile {chosen!r} in this CA (known: {', '.join(known)})")
    with _token_and_audit_stores(settings) as (tokens, store):
        now = _now()
        try:
            made = new_token(
                name=name,
                scopes=wanted,
                profiles=profile or [],
                names=names or [],
                common_names=cn,
                allow_wildcards=allow_wildcards,
                ttl=valid_for,
                now=now,
            )
        except ValueError as exc:
            fail(str(exc))
        tokens.add(made.token)
        store.append_audit(
            AuditEvent(
                at=now,
                action="token.create",
                actor=cli_actor(),
                detail={"token": made.token.name, "scopes": sorted(wanted)},
            )
        )
    if json_output:
        emit_json({"token": made.secret, **made.token.to_json(now)})
        return
    emit_fields(
        [
            ("token", made.secret),
            ("name", made.token.name),
            ("scopes", ", ".join(sorted(wanted))),
            ("profiles", ", ".join(made.token.profiles) or "-"),
            ("names", ", ".join([*made.token.dns, *made.token.ip_networks]) or "-"),
            ("expires", made.token.expires_at.isoformat()),
        ]
    )
    typer.echo("This is the only time the token is shown; albca keeps only its hash.", err=True)


@token_app.command("list")
def list_tokens(json_output: JsonOption = False) -> None:
    """List API tokens (names, scopes, policies, status; never secrets)."""
    from albca.compose.api import open_token_store

    settings = load_settings()
    tokens = open_token_store(settings)
    try:
        every = tokens.list()
    finally:
        tokens.close()
    now = _now()
    if json_output:
        emit_json([token.to_json(now) for token in every])
        return
    emit_table(
        ["name", "status", "scopes", "profiles", "names", "expires"],
        [
            (
                token.name,
                token.status(now).value,
                ",".join(sorted(token.scopes)),
                ",".join(token.profiles),
                ", ".join([*token.dns, *token.ip_networks]),
                token.expires_at.strftime("%Y-%m-%d %H:%M"),
            )
            for token in every
        ],
        keep_whole=("name",),
    )


@token_app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The token's name.")],
    json_output: JsonOption = False,
) -> None:
    """Revoke an API token: it stops working at once. Its certificates stay valid."""
    from albca.ca.records import AuditEvent

    settings = load_settings()
    with _token_and_audit_stores(settings) as (tokens, store):
        now = _now()
        token = tokens.revoke(name, now)
        store.append_audit(
            AuditEvent(at=now, action="token.revoke", actor=cli_actor(), detail={"token": name})
        )
    if json_output:
        emit_json(token.to_json(now))
        return
    emit_fields([("revoked", token.name), ("at", token.revoked_at)])


@contextmanager
def _token_and_audit_stores(settings: Settings) -> Iterator[tuple[TokenStore, CertificateStore]]:
    """The API tokens, and the certificate store that keeps the audit trail: both in the
    DynamoDB table with ALBCA_STORE=dynamodb://TABLE, both local files otherwise."""
    from albca.compose.api import open_token_store
    from albca.compose.services import open_store

    store = open_store(settings)
    try:
        tokens = open_token_store(settings)
        try:
            yield tokens, store
        finally:
            tokens.close()
    finally:
        store.close()


def _now() -> datetime:
    from albca.ca.clock import system_clock

    return system_clock()


def _profile_names(settings: Settings) -> tuple[str, ...]:
    from albca.compose.services import load_config
    from albca.home import CAHome

    return load_config(settings, CAHome(settings.home)).profiles.names
