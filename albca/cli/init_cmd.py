"""``albca init``: create a CA home with a root and an issuing CA."""

from __future__ import annotations

from typing import Annotated

import typer

from albca.cli.context import cli_actor, load_settings
from albca.cli.output import emit_fields, emit_json

KEY_TYPES = "ec-p256, ec-p384, ec-p521, rsa-2048, rsa-3072 or rsa-4096"


def init(
    root_cn: Annotated[str, typer.Option(help="Common name of the root CA.")] = "albca Root CA",
    issuing_cn: Annotated[
        str, typer.Option(help="Common name of the issuing CA.")
    ] = "albca Issuing CA",
    org: Annotated[str | None, typer.Option(help="Organization (O) for both CA subjects.")] = None,
    key_type: Annotated[str, typer.Option(help=f"Key type of both CAs: {KEY_TYPES}.")] = "ec-p256",
    root_key_type: Annotated[
        str | None, typer.Option(help="Key type of the root CA (overrides --key-type).")
    ] = None,
    issuing_key_type: Annotated[
        str | None, typer.Option(help="Key type of the issuing CA (overrides --key-type).")
    ] = None,
    crl_url: Annotated[
        list[str] | None,
        typer.Option(help="CRL distribution point URL to write into issued certificates."),
    ] = None,
    ca_issuers_url: Annotated[
        list[str] | None,
        typer.Option(help="AIA caIssuers URL (where the issuing CA certificate is served)."),
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create a CA: a root CA (10 years) and an issuing CA (5 years) in $ALBCA_HOME.

    Keys are encrypted with the passphrase from ALBCA_KEY_PASSPHRASE,
    ALBCA_KEY_PASSPHRASE_FILE or a prompt. Refuses, changing nothing, if the home
    already holds a CA.
    """
    from albca.wiring import InitOptions, initialize_ca, passphrase_source
    from ca.keys import KeySpec

    settings = load_settings()
    options = InitOptions(
        root_common_name=root_cn,
        issuing_common_name=issuing_cn,
        organization=org,
        root_key=KeySpec.parse(root_key_type or key_type, field="--root-key-type"),
        issuing_key=KeySpec.parse(issuing_key_type or key_type, field="--issuing-key-type"),
        crl_urls=list(crl_url or []),
        ca_issuers_urls=list(ca_issuers_url or []),
    )
    result = initialize_ca(
        settings, passphrase_source(settings, confirm=True), options, actor=cli_actor()
    )
    summary = {
        "home": str(result.home),
        "root": {"key_id": result.root.key_id, "key_location": result.root.key_location},
        "issuing": {
            "key_id": result.issuing.key_id,
            "key_location": result.issuing.key_location,
        },
    }
    if json_output:
        emit_json(summary)
        return
    emit_fields(
        [
            ("CA home", result.home),
            ("root CA", f"{root_cn} (key id {result.root.key_id[:16]}...)"),
            ("issuing CA", f"{issuing_cn} (key id {result.issuing.key_id[:16]}...)"),
            ("next", "albca issue client --cn NAME   |   albca bundle > ca-bundle.pem"),
        ]
    )
