"""``albca inspect`` and ``albca verify``: look at any certificate, CSR, CRL, bundle or
PKCS#12 file, and check a certificate as a relying party would (``albca.holder``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from albca.cli.commands.holder import holder_config_path, holder_errors
from albca.cli.errors import fail
from albca.cli.output import emit_fields, emit_json
from albca.cli.pkcs12 import p12_password

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def inspect(
    file: Annotated[str, typer.Argument(help="The file, or - for standard input.")],
    password_file: Annotated[
        Path | None,
        typer.Option(help="PKCS#12 password file (default: ALBCA_P12_PASSWORD or a prompt)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Show what a certificate, CSR, CRL, bundle or PKCS#12 file holds (PEM or DER).

    Example: albca inspect web.crt.pem      albca inspect --json crl.der
    """
    from datetime import UTC, datetime

    from albca.holder.inspect import describe

    data = _read(file)

    def password() -> bytes:
        return p12_password(
            password_file,
            option="--password-file",
            missing=f"{file}: a PKCS#12 file; give its password "
            "(--password-file or ALBCA_P12_PASSWORD)",
            may_prompt=file != "-",
        )

    with holder_errors():
        described = describe(data, name=file, now=datetime.now(UTC), password=password)
    if json_output:
        emit_json(described)
    else:
        _print(described)


def verify(
    cert: Annotated[
        Path, typer.Argument(help="The certificate (PEM or DER; a chain after it is used).")
    ],
    bundle: Annotated[
        Path | None,
        typer.Option(help="Trusted CA bundle (default: the one albca bootstrap saved)."),
    ] = None,
    crl: Annotated[Path | None, typer.Option(help="Check revocation against this CRL.")] = None,
    server_name: Annotated[
        str | None, typer.Option(help="Check the certificate is valid for this DNS name or IP.")
    ] = None,
    purpose: Annotated[
        str | None, typer.Option(help="client or server (default: from the certificate).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Check a certificate: chain to the bundle, validity, purpose, name and revocation.

    Example: albca verify web.crt.pem --server-name web.svc.internal --crl ca.crl
    """
    from datetime import UTC, datetime

    from cryptography import x509

    from albca.holder.config import load_config
    from albca.holder.verify import load_certificates, verify_certificate

    if purpose not in (None, "client", "server"):
        fail(f"--purpose: {purpose!r} is not client or server")
    with holder_errors():
        presented = load_certificates(_read_path(cert, "CERT"), str(cert))
        if bundle is not None:
            trusted = load_certificates(_read_path(bundle, "--bundle"), str(bundle))
        else:
            trusted = load_certificates(
                load_config(holder_config_path()).bundle_pem(), "the saved bundle"
            )
        revocations = None
        if crl is not None:
            raw = _read_path(crl, "--crl")
            try:
                revocations = (
                    x509.load_pem_x509_crl(raw)
                    if b"-----BEGIN" in raw
                    else x509.load_der_x509_crl(raw)
                )
            except ValueError:
                fail(f"--crl: {crl} is not a PEM or DER CRL")
        verified = verify_certificate(
            presented[0],
            trusted,
            intermediates=presented[1:],
            now=datetime.now(UTC),
            purpose=purpose,
            server_name=server_name,
            crl=revocations,
        )
    result = {
        "verified": True,
        "chain": [c.subject.rfc4514_string() for c in verified.chain],
        "purpose": verified.purpose,
        "server_name": verified.server_name,
        "revocation": verified.revocation,
    }
    if json_output:
        emit_json(result)
        return
    emit_fields(
        [
            ("verified", "OK"),
            ("chain", " <- ".join(result["chain"])),  # type: ignore[arg-type]
            ("purpose", verified.purpose),
            ("name", server_name or "not checked"),
            ("revocation", verified.revocation),
        ]
    )


def _read(file: str) -> bytes:
    if file == "-":
        return sys.stdin.buffer.read()
    return _read_path(Path(file), "FILE")


def _read_path(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        fail(f"{what}: cannot read {path}: {exc.strerror}")


def _print(described: dict[str, Any], indent: str = "") -> None:
    kind = described.get("kind")
    if kind == "bundle":
        typer.echo(f"bundle of {len(described['certificates'])} certificates")
        for number, cert in enumerate(described["certificates"], 1):
            typer.echo(f"[{number}]")
            _print(cert, indent="  ")
        return
    if kind == "pkcs12":
        typer.echo(
            f"PKCS#12: key {described['key'] or 'none'}, matches: {described['key_matches']}"
        )
        if described["certificate"]:
            _print(described["certificate"], indent="  ")
        for cert in described["chain"]:
            typer.echo("  chain:")
            _print(cert, indent="    ")
        return
    if kind == "crl":
        emit_fields(
            [
                ("CRL issuer", described["issuer"]),
                ("number", described["crl_number"]),
                ("this update", described["this_update"]),
                (
                    "next update",
                    f"{described['next_update']}{' (STALE)' if described['stale'] else ''}",
                ),
                ("entries", len(described["entries"])),
            ]
        )
        for entry in described["entries"]:
            typer.echo(f"  {entry['serial']}  {entry['revoked_at']}  {entry['reason'] or ''}")
        return
    fields = [
        (f"{indent}{label}", value)
        for label, value in (
            ("kind", kind),
            ("subject", described.get("subject") or "(empty)"),
            ("issuer", described.get("issuer")),
            ("serial", described.get("serial")),
            ("names", ", ".join(described.get("names", [])) or "-"),
            ("not before", described.get("not_before")),
            ("not after", described.get("not_after")),
            ("time left", described.get("time_left")),
            ("key", described.get("key")),
            ("CA", described.get("is_ca")),
            ("key usage", ", ".join(described.get("key_usage", [])) or None),
            ("ext key usage", ", ".join(described.get("extended_key_usage", [])) or None),
            ("signature ok", described.get("signature_valid")),
            ("sha256", described.get("sha256")),
            ("sha1", described.get("sha1")),
        )
        if value is not None and not (label == "kind" and indent)
    ]
    emit_fields(fields)
