"""The ``albca`` command: one Typer app, each command in its own module.

Command modules import heavy libraries (cryptography, pydantic) inside their functions,
so that ``albca --help`` answers without loading them.
"""

from __future__ import annotations

from typing import Annotated

import typer

from albca.cli import (
    cert_cmds,
    crl_cmds,
    demo_cmd,
    holder_cmds,
    init_cmd,
    inspect_cmds,
    issue_batch_cmd,
    renewal_cmd,
    serve_cmd,
)
from albca.cli.alb_cmds import alb_app
from albca.cli.aws_cmds import aws_app
from albca.cli.backend_cmds import backend_app
from albca.cli.bundle_cmds import bundle_app
from albca.cli.ca_cmds import ca_app
from albca.cli.cloudfront_cmds import cloudfront_app
from albca.cli.config_cmds import config_app
from albca.cli.errors import AlbcaGroup
from albca.cli.issue_cmd import issue_app
from albca.cli.token_cmds import token_app
from albca.cli.truststore_cmds import truststore_app

app = typer.Typer(
    name="albca",
    cls=AlbcaGroup,
    help="A private certificate authority for AWS load balancers.",
    no_args_is_help=True,
    add_completion=False,
    # Locals can hold passphrases and keys: never print them in a traceback.
    pretty_exceptions_show_locals=False,
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"albca {version('albca')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """A private certificate authority for AWS load balancers.

    The CA lives in $ALBCA_HOME (default ~/.albca). Start with `albca init`, or try
    everything offline with `albca demo`.
    """


app.command("init")(init_cmd.init)
issue_app.command("batch")(issue_batch_cmd.issue_batch)
app.add_typer(issue_app, name="issue")
app.command("revoke")(cert_cmds.revoke)
app.command("list")(cert_cmds.list_certificates)
app.command("show")(cert_cmds.show)
app.command("crl")(crl_cmds.crl)
app.add_typer(bundle_app, name="bundle")
app.command("audit")(cert_cmds.audit)
app.command("demo")(demo_cmd.demo)
app.command("serve")(serve_cmd.serve)
app.add_typer(token_app, name="token")
app.command("renewal-token")(renewal_cmd.renewal_token)
app.add_typer(config_app, name="config")
app.add_typer(aws_app, name="aws")
app.add_typer(alb_app, name="alb")
app.add_typer(backend_app, name="backend")
app.add_typer(cloudfront_app, name="cloudfront")
app.add_typer(truststore_app, name="truststore")
app.add_typer(ca_app, name="ca")
# The certificate holder's side (albca.holder): bootstrap, request, renew, agent, inspect.
app.command("bootstrap")(holder_cmds.bootstrap)
app.add_typer(holder_cmds.request_app, name="request")
app.command("renew")(holder_cmds.renew)
app.command("agent")(holder_cmds.agent)
app.command("inspect")(inspect_cmds.inspect)
app.command("verify")(inspect_cmds.verify)
