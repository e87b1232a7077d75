"""``albca init``: create a CA home with a root and an issuing CA."""

from __future__ import annotations

from typing import Annotated

import typer

from albca.cli.context import cli_actor, load_settings
from albca.cli.errors import fail
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
        typer.Option(
            help="CRL distribution point URL to write into issued certificates; {issuer} "
            "in it becomes the issuing CA's key id, so that each certificate names its own "
            "CA's CRL after a rotation (https://HOST/v1/ca/crl.der?issuer={issuer})."
        ),
    ] = None,
    ca_issuers_url: Annotated[
        list[str] | None,
        typer.Option(help="AIA caIssuers URL (where the issuing CA certificate is served)."),
    ] = None,
    key_store: Annotated[
        str | None,
        typer.Option(
            help="Where the CA keys live: file (encrypted in $ALBCA_HOME) or kms "
            "(new KMS keys unless --root-kms-key/--issuing-kms-key name existing ones). "
            "Default: ALBCA_KEY_STORE, else file."
        ),
    ] = None,
    root_kms_key: Annotated[
        str | None,
        typer.Option(
            help="Use this existing KMS key for the root CA: ARN, alias/NAME or key id "
            "(its key spec wins over --key-type)."
        ),
    ] = None,
    issuing_kms_key: Annotated[
        str | None, typer.Option(help="Use this existing KMS key for the issuing CA.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Create a CA: a root CA (10 years) and an issuing CA (5 years) in $ALBCA_HOME.

    Keys are encrypted with the passphrase from ALBCA_KEY_PASSPHRASE,
    ALBCA_KEY_PASSPHRASE_FILE or a prompt, or kept in AWS KMS (--key-store kms). With
    ALBCA_STORE=dynamodb://TABLE and KMS keys, nothing is written locally. Refuses,
    changing nothing, if the home or the store already holds a CA.
    """
    from albca.ca.keys import KeySpec
    from albca.ca.names import normalize_common_name
    from albca.compose.new_ca import InitOptions, initialize_ca
    from albca.compose.passphrase import passphrase_source

    # Checked first, by the rules applied later (a bad --crl-url used to be written into
    # config.toml, which no command could then load), so that the error names the option.
    normalize_common_name(root_cn, field="--root-cn")
    normalize_common_name(issuing_cn, field="--issuing-cn")
    _url_option(crl_url, "--crl-url", issuer_placeholder=True)
    _url_option(ca_issuers_url, "--ca-issuers-url", issuer_placeholder=False)
    settings = load_settings()
    root_kms = _kms_key_option(root_kms_key, "--root-kms-key") or settings.root_kms_key
    issuing_kms = _kms_key_option(issuing_kms_key, "--issuing-kms-key") or settings.issuing_kms_key
    store_choice = key_store or ("kms" if root_kms or issuing_kms else settings.key_store)
    if store_choice not in ("file", "kms"):
        fail(f"--key-store: {store_choice!r} is not file or kms")
    if store_choice == "file" and (root_kms or issuing_kms):
        fail("--root-kms-key/--issuing-kms-key need --key-store kms")
    options = InitOptions(
        root_common_name=root_cn,
        issuing_common_name=issuing_cn,
        organization=org,
        root_key=KeySpec.parse(root_key_type or key_type, field="--root-key-type"),
        issuing_key=KeySpec.parse(issuing_key_type or key_type, field="--issuing-key-type"),
        crl_urls=list(crl_url or []),
        ca_issuers_urls=list(ca_issuers_url or []),
        key_store="kms" if store_choice == "kms" else "file",
        root_kms_key=root_kms,
        issuing_kms_key=issuing_kms,
    )
    result = initialize_ca(
        settings, passphrase_source(settings, confirm=True), options, actor=cli_actor()
    )
    summary = {
        "home": str(result.home) if result.home else None,
        "store": result.store,
        "created_kms_keys": list(result.created_kms_keys),
        "root": {"key_id": result.root.key_id, "key_location": result.root.key_location},
        "issuing": {
            "key_id": result.issuing.key_id,
            "key_location": result.issuing.key_location,
        },
    }
    if json_output:
        emit_json(summary)
        return
    fields: list[tuple[str, object]] = []
    if result.home is not None:
        fields.append(("CA home", result.home))
    fields += [
        ("store", result.store),
        ("root CA", f"{root_cn} (key id {result.root.key_id[:16]}...)"),
        ("root key", result.root.key_location),
        ("issuing CA", f"{issuing_cn} (key id {result.issuing.key_id[:16]}...)"),
        ("issuing key", result.issuing.key_location),
    ]
    if result.config_file is not None:
        fields.append(("config file", result.config_file))
    fields.append(("next", "albca issue client --cn NAME   |   albca bundle > ca-bundle.pem"))
    emit_fields(fields)


def _kms_key_option(value: str | None, option: str) -> str | None:
    """Checked like the ALBCA_*_KMS_KEY settings: an ARN, alias/NAME or a key id."""
    if value is None:
        return None
    from albca.settings import check_kms_key_reference

    try:
        check_kms_key_reference(value)
    except ValueError as exc:
        fail(f"{option}: {exc}")
    return value


def _url_option(urls: list[str] | None, option: str, *, issuer_placeholder: bool) -> None:
    """Checked as config.toml's CRL and AIA URLs are when a command loads it."""
    from albca.config_file import check_http_urls

    try:
        check_http_urls(list(urls or []), issuer_placeholder=issuer_placeholder)
    except ValueError as exc:
        fail(f"{option}: {exc}")
