"""The ``albca`` command: a root group whose commands are loaded when they are used.

Each command group lives in a module of its own under ``albca.cli.commands`` (``issue``,
``ca``, ``bundle``, ``truststore``, ``alb``, ...), named after it. ``COMMANDS`` lists them
with their one-line help, so ``albca --help`` lists every command without importing any
of them: only the command that runs is imported (and it imports its heavy libraries,
cryptography, pydantic, boto3, inside its functions).
"""

from __future__ import annotations

from typing import Annotated

import typer

from albca.cli.errors import LazyCommand, LazyGroup, fail

__all__ = ["app", "COMMANDS"]

# name on the command line -> (module in albca.cli.commands, its attribute, short help).
# The attribute is a Typer app (a group) or a function (one command). The order is the
# order of `albca --help`: what an operator does first, first.
COMMANDS: tuple[LazyCommand, ...] = (
    LazyCommand("init", "init", "init", "Create a CA: a root CA and an issuing CA."),
    LazyCommand("issue", "issue", "issue_app", "Issue a client or server certificate."),
    LazyCommand("revoke", "certificates", "revoke", "Revoke a certificate."),
    LazyCommand("list", "certificates", "list_certificates", "List issued certificates."),
    LazyCommand("show", "certificates", "show", "Show one certificate's record."),
    LazyCommand("crl", "crl", "crl", "Sign a new full CRL."),
    LazyCommand("bundle", "bundle", "bundle_app", "The CA bundle: print, publish, roll back."),
    LazyCommand("audit", "certificates", "audit", "Show the audit trail, newest first."),
    LazyCommand("demo", "demo", "demo", "Run the whole local story offline."),
    LazyCommand("serve", "serve", "serve", "Run the HTTP API."),
    LazyCommand("token", "token", "token_app", "API tokens: create, list, revoke."),
    LazyCommand(
        "renewal-token", "renewal_token", "renewal_token", "Make a one-time renewal token."
    ),
    LazyCommand("config", "config", "config_app", "Show albca's effective configuration."),
    LazyCommand("aws", "aws", "aws_app", "Set up and check a serverless CA's AWS resources."),
    LazyCommand("alb", "alb", "alb_app", "Mutual TLS and server certificates on ALB listeners."),
    LazyCommand("backend", "backend", "backend_app", "Re-encryption to backends."),
    LazyCommand("cloudfront", "cloudfront", "cloudfront_app", "CloudFront origin mutual TLS."),
    LazyCommand("truststore", "truststore", "truststore_app", "ALB trust stores fed by this CA."),
    LazyCommand("ca", "ca", "ca_app", "The CA hierarchy: status, rotate, retire, activate."),
    # The certificate holder's side (albca.holder): needs no CA home and no API extra.
    LazyCommand("bootstrap", "holder", "bootstrap", "Trust a CA's API (checked by fingerprint)."),
    LazyCommand("request", "holder", "request_app", "Request a certificate from a CA's API."),
    LazyCommand("renew", "holder", "renew", "Renew a certificate by proof of possession."),
    LazyCommand("agent", "holder", "agent", "Keep certificates fresh: renew before expiry."),
    LazyCommand("inspect", "inspect", "inspect", "Show a certificate, CSR, CRL, bundle or P12."),
    LazyCommand("verify", "inspect", "verify", "Check a certificate's chain, name, revocation."),
    LazyCommand("maintain", "maintain", "maintain", "Run every due maintenance job once."),
)


class _AlbcaRoot(LazyGroup):
    commands_to_load = COMMANDS


app = typer.Typer(
    name="albca",
    cls=_AlbcaRoot,
    help="A private certificate authority for AWS load balancers.",
    no_args_is_help=True,
    # `albca --install-completion` / `--show-completion` (Typer's); completing a command's
    # arguments loads that command's module, completing the command names loads none.
    add_completion=True,
    # -h as well as --help, on every command (click passes context_settings down).
    context_settings={"help_option_names": ["-h", "--help"]},
    # Locals can hold passphrases and keys: never print them in a traceback.
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"albca {version('albca')}")
        raise typer.Exit()


# What a certificate holder runs, on Linux, macOS and Windows alike: no CA home, files
# replaced under a cross-platform lock (albca.holder.files).
HOLDER_COMMANDS = frozenset({"bootstrap", "request", "renew", "agent", "inspect", "verify"})


@app.callback()
def _root(
    ctx: typer.Context,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    aws_profile: Annotated[
        str | None,
        typer.Option(
            "--aws-profile",
            envvar="ALBCA_AWS_PROFILE",
            help="AWS profile (of ~/.aws/config) for every AWS call of the command, e.g. "
            "albca --aws-profile prod truststore sync. (--profile is a certificate profile.)",
        ),
    ] = None,
) -> None:
    """A private certificate authority for AWS load balancers.

    The CA lives in $ALBCA_HOME (default ~/.albca). Start with `albca init`, or try
    everything offline with `albca demo`.
    """
    import sys

    if sys.platform == "win32" and ctx.invoked_subcommand not in HOLDER_COMMANDS:
        # The CA home relies on POSIX file modes (its keys are refused unless 0600) and
        # owners; refuse before a command half-runs (README: "Platforms").
        fail(
            f"albca {ctx.invoked_subcommand} runs on Linux and macOS only; on Windows, the "
            f"holder's commands ({', '.join(sorted(HOLDER_COMMANDS))}) work, and the CA runs "
            "in WSL or a Linux container"
        )
    from albca.compose.aws import use_profile

    use_profile(aws_profile)  # None too: a previous command's choice never carries over
