"""``albca issue batch DIR``: a certificate for every CSR in a directory, in one go.

For provisioning a fleet (every host of a cluster, every device of a batch). All CSRs are
read, verified and checked against the profile before anything is signed, so one bad CSR
issues nothing; the certificates are then committed a batch at a time (one transaction,
one fsync, per ``store.batch_limit``), and each batch's files are written once it is
committed.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from albca.cli.context import (
    check_writable,
    cli_actor,
    open_cli_services,
    parse_lifetime,
    write_output_file_or_raise,
)
from albca.cli.errors import fail
from albca.cli.issue_cmd import output_paths, write_files
from albca.cli.output import emit_json, emit_table

if TYPE_CHECKING:
    from albca.ca.csr import ParsedCSR
    from albca.ca.issued import IssuedCertificate

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
    out = out.resolve()
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
