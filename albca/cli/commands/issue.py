"""``albca issue client|server|batch``: a certificate from a CSR, or with a key made for
you; or one for every CSR in a directory.

``issue batch DIR`` is for provisioning a fleet (every host of a cluster, every device of a
batch). All CSRs are read, verified and checked against the profile before anything is
signed, so one bad CSR issues nothing; the certificates are then committed a batch at a
time (one transaction, one fsync, per ``store.batch_limit``), and each batch's files are
written once it is committed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from albca.cli.context import (
    OutputFiles,
    check_writable,
    cli_actor,
    open_cli_services,
    out_directory,
    parse_lifetime,
    write_output_file,
    write_output_file_or_raise,
)
from albca.cli.errors import CommandLineError, fail
from albca.cli.output import emit_fields, emit_json, emit_table
from albca.cli.pkcs12 import P12LegacyOption, new_p12_password, warn_p12_legacy
from albca.cli.progress import progress_line

if TYPE_CHECKING:
    from datetime import datetime

    from albca.ca.csr import ParsedCSR
    from albca.ca.issued import IssuedCertificate
    from albca.ca.names import RequestedNames

issue_app = typer.Typer(
    help="Issue a client (mTLS) or server (backend) certificate.", no_args_is_help=True
)

CsrOption = Annotated[
    Path | None,
    typer.Option(
        "--csr", help="Issue for this CSR (PEM or DER). Without it, albca generates the key."
    ),
]
CnOption = Annotated[str | None, typer.Option("--cn", help="Subject common name.")]
DnsOption = Annotated[
    list[str] | None, typer.Option("--dns", help="DNS name for the SAN (repeatable).")
]
IpOption = Annotated[
    list[str] | None, typer.Option("--ip", help="IP address for the SAN (repeatable).")
]
ProfileOption = Annotated[
    str | None, typer.Option(help="Profile from config.toml (default: client or server).")
]
LifetimeOption = Annotated[
    str | None, typer.Option(help="Validity such as 30d, 36h, 90m (default: the profile's).")
]
KeyTypeOption = Annotated[
    str, typer.Option(help="Key type when albca generates the key (ec-p256, rsa-2048, ...).")
]
OutOption = Annotated[Path, typer.Option(help="Directory to write the files to.")]
NameOption = Annotated[
    str | None,
    typer.Option(help="Base name of the files (default: from the common name or DNS name)."),
]
P12Option = Annotated[
    bool,
    typer.Option(
        "--p12",
        help="Also write a password-protected PKCS#12 file (for browsers, Postman, Java). "
        "Password from ALBCA_P12_PASSWORD, --p12-password-file or a prompt.",
    ),
]
P12PasswordFileOption = Annotated[
    Path | None, typer.Option(help="File holding the PKCS#12 password.")
]
ForceOption = Annotated[bool, typer.Option(help="Overwrite files that already exist.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def _issue_command(kind: str, help_text: str) -> Callable[..., None]:
    """One Typer command per certificate kind; they differ only in the kind they issue."""

    def command(
        csr: CsrOption = None,
        cn: CnOption = None,
        dns: DnsOption = None,
        ip: IpOption = None,
        profile: ProfileOption = None,
        lifetime: LifetimeOption = None,
        key_type: KeyTypeOption = "ec-p256",
        out: OutOption = Path(),
        name: NameOption = None,
        p12: P12Option = False,
        p12_legacy: P12LegacyOption = False,
        p12_password_file: P12PasswordFileOption = None,
        force: ForceOption = False,
        json_output: JsonOption = False,
    ) -> None:
        _issue(
            kind, csr, cn, dns, ip, profile, lifetime, key_type, out, name,
            p12 or p12_legacy, p12_legacy, p12_password_file, force, json_output,
        )  # fmt: skip

    command.__doc__ = help_text
    return command


issue_app.command("client")(
    _issue_command(
        "client",
        """Issue a client certificate (EKU clientAuth) for mTLS to an ALB.

    Example: albca issue client --cn alice --p12
    """,
    )
)
issue_app.command("server")(
    _issue_command(
        "server",
        """Issue a server certificate (EKU serverAuth, at least one DNS or IP SAN).

    Example: albca issue server --dns api.internal.example --ip 10.0.1.5
    """,
    )
)


def _issue(
    kind: str,
    csr: Path | None,
    cn: str | None,
    dns: list[str] | None,
    ip: list[str] | None,
    profile: str | None,
    lifetime: str | None,
    key_type: str,
    out: Path,
    name: str | None,
    p12: bool,
    p12_legacy: bool,
    p12_password_file: Path | None,
    force: bool,
    json_output: bool,
) -> None:
    from albca.ca.authority import IssueRequest
    from albca.ca.csr import parse_csr
    from albca.ca.keys import KeySpec
    from albca.ca.names import RequestedNames
    from albca.ca.profiles import CertificateKind

    explicit = (
        RequestedNames.of(common_name=cn, dns_names=dns or [], ip_addresses=ip or [])
        if cn or dns or ip
        else None
    )
    parsed = parse_csr(_read_csr(csr)) if csr is not None else None
    if parsed is None and explicit is None:
        fail("give --csr FILE, or the names to certify (--cn, --dns, --ip)")
    if parsed is not None and p12:
        option = "--p12-legacy" if p12_legacy else "--p12"
        fail(f"{option} needs the private key, which a CSR keeps to itself; drop --csr or {option}")
    # Names given on the command line replace the CSR's; otherwise the CSR's are used.
    names = explicit if explicit is not None else parsed.names if parsed else RequestedNames()
    requested_lifetime = parse_lifetime(lifetime)
    spec = KeySpec.parse(key_type, field="--key-type")
    p12_password = (
        new_p12_password(
            p12_password_file, option="--p12-password-file", nothing_done="nothing was issued"
        )
        if p12
        else None
    )

    services = open_cli_services()
    try:
        authority = services.authority
        profile_name = profile or kind
        chosen = authority.profiles.get(profile_name)
        if chosen.kind is not CertificateKind(kind):
            fail(f"--profile {profile_name} issues {chosen.kind} certificates, not {kind}")
        # Open every output file before signing, so that a certificate is never issued
        # and then lost to a file that cannot be written.
        paths = output_paths(
            out_directory(out), _base_name(name, names), with_key=parsed is None, with_p12=p12
        )
        outputs = OutputFiles(paths, private={"private_key", "pkcs12"}, force=force)
        try:
            if parsed is not None:
                issued = authority.issue(
                    IssueRequest(
                        profile=profile_name,
                        public_key=parsed.public_key,
                        names=names,
                        requested_by=cli_actor(),
                        lifetime=requested_lifetime,
                    )
                )
            else:
                issued = authority.issue_with_new_key(
                    profile=profile_name,
                    names=names,
                    requested_by=cli_actor(),
                    key_spec=spec,
                    lifetime=requested_lifetime,
                )
        except BaseException:
            outputs.discard()
            raise
        if p12_legacy:
            warn_p12_legacy()
        try:
            write_files(
                issued, paths, p12_password, force=force, write=_writer(outputs), legacy=p12_legacy
            )
        except OSError as exc:
            outputs.close()
            _fail_after_commit(issued, exc)
        now = authority.now()
    finally:
        services.close()
    _report(issued, paths, now, json_output)


def _writer(outputs: OutputFiles) -> Callable[..., None]:
    labels = {path: label for label, path in outputs.paths.items()}

    def write(path: Path, data: bytes, *, private: bool, force: bool) -> None:
        outputs.write(labels[path], data)

    return write


def _fail_after_commit(issued: IssuedCertificate, error: OSError) -> NoReturn:
    serial = f"{issued.serial:x}"
    lost = (
        "; its private key was never written and is lost: revoke it with "
        f"`albca revoke {serial}` and issue again"
        if issued.private_key is not None
        else ""
    )
    fail(
        f"certificate {serial} was issued and recorded, but {error.filename} could not be "
        f"written: {error.strerror} (`albca show {serial} --pem` prints the certificate){lost}"
    )


def _read_csr(path: Path) -> bytes:
    """The CSR file, read up to one byte past the largest CSR accepted: /dev/zero or a
    pipe that never ends must not grow until memory runs out."""
    from albca.ca.csr import MAX_CSR_BYTES

    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_CSR_BYTES + 1)
    except OSError as exc:
        fail(f"--csr: cannot read {path}: {exc.strerror}")
    if len(data) > MAX_CSR_BYTES:
        fail(f"--csr: {path} is larger than {MAX_CSR_BYTES} bytes; it is not a CSR")
    return data


def _base_name(name: str | None, names: RequestedNames) -> str:
    if name:
        candidate = name
    elif names.common_name or names.dns_names:
        candidate = names.common_name or names.dns_names[0]
    elif names.ip_addresses:
        candidate = str(names.ip_addresses[0])
    else:
        candidate = "certificate"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", candidate.replace("*", "wildcard")).strip("._")
    return safe or "certificate"


def output_paths(out: Path, base: str, *, with_key: bool, with_p12: bool) -> dict[str, Path]:
    paths = {
        "certificate": out / f"{base}.crt.pem",
        "chain": out / f"{base}.chain.pem",
        "fullchain": out / f"{base}.fullchain.pem",
    }
    if with_key:
        paths["private_key"] = out / f"{base}.key.pem"
    if with_p12:
        paths["pkcs12"] = out / f"{base}.p12"
    return paths


def write_files(
    issued: IssuedCertificate,
    paths: dict[str, Path],
    p12_password: bytes | None,
    *,
    force: bool,
    write: Callable[..., None] = write_output_file,
    legacy: bool = False,
) -> None:
    write(paths["certificate"], issued.certificate_pem, private=False, force=force)
    write(paths["chain"], issued.chain_pem, private=False, force=force)
    write(paths["fullchain"], issued.full_chain_pem, private=False, force=force)
    if "private_key" in paths:
        write(paths["private_key"], issued.private_key_pem(), private=True, force=force)
    if "pkcs12" in paths:
        assert p12_password is not None
        write(
            paths["pkcs12"], issued.pkcs12(p12_password, legacy=legacy), private=True, force=force
        )


def _report(
    issued: IssuedCertificate, paths: dict[str, Path], now: datetime, json_output: bool
) -> None:
    if json_output:
        emit_json({**issued.record.to_json(now), "files": {k: str(v) for k, v in paths.items()}})
        return
    record = issued.record
    emit_fields(
        [
            ("serial", f"{record.serial:x}"),
            ("subject", record.subject or "(empty; names are in the SAN)"),
            ("names", ", ".join([*record.dns_names, *record.ip_addresses]) or "-"),
            ("profile", record.profile),
            ("valid until", record.not_after.isoformat()),
            *[(label.replace("_", " "), str(path)) for label, path in paths.items()],
        ]
    )


# -- issue batch ------------------------------------------------------------------------

CSR_SUFFIXES = (".csr", ".req", ".pem", ".der")
MAX_CSRS = 10_000


def issue_batch(
    csr_dir: Annotated[
        Path,
        typer.Argument(
            help=f"Directory of CSRs ({', '.join('*' + s for s in CSR_SUFFIXES)}); each "
            "gets a certificate for the names in it, in files named after it."
        ),
    ],
    profile: Annotated[
        str, typer.Option(help="Profile to issue from: client, server, or one in config.toml.")
    ],
    lifetime: Annotated[
        str | None, typer.Option(help="Validity such as 30d, 36h (default: the profile's).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Directory to write the files to.")] = Path(),
    force: Annotated[bool, typer.Option(help="Overwrite files that already exist.")] = False,
    json_output: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Issue a certificate for every CSR in a directory; one bad CSR issues none.

    Example: albca issue batch ./csrs --profile server --out ./certs
    """
    from albca.ca.authority import IssueRequest
    from albca.ca.errors import CAError

    files = _csr_files(csr_dir)
    parsed = _parse_all(files)
    requested_lifetime = parse_lifetime(lifetime)
    out = out_directory(out)
    paths = [output_paths(out, file.stem, with_key=False, with_p12=False) for file in files]
    for file_paths in paths:
        for path in file_paths.values():
            check_writable(path, force=force)

    services = open_cli_services()
    try:
        authority = services.authority
        refusals = []
        for file, csr in zip(files, parsed, strict=True):
            try:
                authority.check(profile, csr.key_spec, csr.names)
            except CAError as exc:
                refusals.append(f"{file.name}: {exc.message}")
        _fail_if_any(refusals, len(files), "refused")
        requests = [
            IssueRequest(
                profile=profile,
                public_key=csr.public_key,
                names=csr.names,
                requested_by=cli_actor(),
                lifetime=requested_lifetime,
            )
            for csr in parsed
        ]
        issued: list[IssuedCertificate] = []
        try:
            with progress_line(json_output=json_output) as progress:
                progress.start(f"issuing {len(requests)} certificates", total=len(requests))
                for batch in authority.issue_batches(requests):
                    for position, certificate in enumerate(batch):
                        try:
                            write_files(
                                certificate,
                                paths[len(issued)],
                                None,
                                force=force,
                                write=write_output_file_or_raise,
                            )
                        except OSError as exc:
                            _fail_unwritten(exc, batch[position:], len(issued), len(files))
                        issued.append(certificate)
                        progress.advance()
        except CommandLineError:
            raise  # already says what was issued and not written
        except CAError as exc:
            fail(
                f"{exc.message}; {len(issued)} of {len(files)} certificates were issued and "
                f"written before this (the first {len(issued)} CSRs in name order), the rest "
                "were not"
            )
        now = authority.now()
    finally:
        services.close()
    rows = [
        (file, issued_one, file_paths["certificate"])
        for file, issued_one, file_paths in zip(files, issued, paths, strict=True)
    ]
    if json_output:
        emit_json(
            [
                {**one.record.to_json(now), "csr": str(file), "certificate_file": str(path)}
                for file, one, path in rows
            ]
        )
        return
    emit_table(
        ["csr", "serial", "names", "certificate"],
        [(file.name, f"{one.serial:x}", _names(one), path) for file, one, path in rows],
    )


def _fail_unwritten(
    error: OSError, unwritten: list[IssuedCertificate], written: int, total: int
) -> NoReturn:
    """A file could not be written after its batch committed: those certificates exist
    and are recorded, so say which, and how to get them, rather than lose them."""
    serials = " ".join(f"{issued.serial:x}" for issued in unwritten)
    fail(
        f"cannot write {error.filename}: {error.strerror}; {written} of {total} "
        f"certificates were written; {len(unwritten)} more were issued and recorded but not "
        f"written (albca show --pem SERIAL prints each): {serials}"
    )


def _names(issued: IssuedCertificate) -> str:
    record = issued.record
    return ", ".join([*record.dns_names, *record.ip_addresses]) or record.common_name or "-"


def _csr_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        fail(f"{directory} is not a directory")
    files = sorted(
        path
        for path in directory.iterdir()
        if path.is_file() and path.suffix.lower() in CSR_SUFFIXES
    )
    if not files:
        fail(f"{directory} holds no CSR files ({', '.join('*' + s for s in CSR_SUFFIXES)})")
    if len(files) > MAX_CSRS:
        fail(f"{directory} holds {len(files)} CSRs; issue at most {MAX_CSRS} at a time")
    stems: dict[str, Path] = {}
    for path in files:
        # Case-folded: on macOS and Windows Host.csr and host.csr write the same files.
        stem = path.stem.casefold()
        if stem in stems:
            fail(
                f"{stems[stem].name} and {path.name} would write the same files "
                f"({path.stem}.crt.pem); rename one"
            )
        stems[stem] = path
    return files


def _parse_all(files: list[Path]) -> list[ParsedCSR]:
    from albca.ca.csr import parse_csr
    from albca.ca.errors import CAError

    parsed: list[ParsedCSR] = []
    refusals: list[str] = []
    for path in files:
        try:
            parsed.append(parse_csr(path.read_bytes()))
        except OSError as exc:
            refusals.append(f"{path.name}: cannot read it: {exc.strerror}")
        except CAError as exc:
            refusals.append(f"{path.name}: {exc.message}")
    _fail_if_any(refusals, len(files), "unusable")
    return parsed


def _fail_if_any(refusals: list[str], total: int, what: str) -> None:
    if not refusals:
        return
    more = f" (and {len(refusals) - 1} more {what})" if len(refusals) > 1 else ""
    fail(f"{refusals[0]}{more}; {len(refusals)} of {total} CSRs {what}, nothing was issued")


issue_app.command("batch")(issue_batch)
