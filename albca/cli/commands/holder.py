"""``albca bootstrap``, ``albca request client|server``, ``albca renew``, ``albca agent``:
the certificate holder's side, against a remote albca API (``albca.holder`` does the work).

These run on the machines that hold certificates: no CA home, no ``api`` extra.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from albca.cli.context import check_writable, parse_lifetime
from albca.cli.errors import fail
from albca.cli.output import emit_fields, emit_json
from albca.cli.pkcs12 import P12LegacyOption, new_p12_password, warn_p12_legacy

if TYPE_CHECKING:
    from albca.holder.client import CaClient
    from albca.holder.config import ClientConfig

request_app = typer.Typer(
    help="Request a certificate from a remote albca API (the key is made here).",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
KeyTypeOption = Annotated[
    str, typer.Option(help="Key made on this machine: ec-p256, ec-p384, ec-p521, rsa-2048, ...")
]


@contextlib.contextmanager
def holder_errors() -> Iterator[None]:
    """Every holder error is one line and exit status 1."""
    from albca.holder.errors import HolderError

    try:
        yield
    except HolderError as exc:
        fail(exc.message)


def holder_config_path() -> Path:
    from albca.holder.config import config_path
    from albca.settings import HolderSettings

    settings = HolderSettings()
    return config_path(settings.client_config, settings.xdg_config_home)


def _client(config: ClientConfig, sleep: Callable[[float], None] | None = None) -> CaClient:
    import time

    from albca.holder.client import CaClient

    return CaClient(config.ca_url, bundle_pem=config.bundle_pem(), sleep=sleep or time.sleep)


def bootstrap(
    ca_url: Annotated[
        str, typer.Option("--ca-url", help="The albca API, e.g. https://ca.internal:8443.")
    ],
    fingerprint: Annotated[
        str,
        typer.Option(help="SHA-256 of the CA's root, from `albca ca fingerprint` on the CA."),
    ],
    renewal_audience: Annotated[
        str, typer.Option(help="The API's ALBCA_API_RENEWAL_AUDIENCE.")
    ] = "albca-renew",
) -> None:
    """Trust a CA: fetch its bundle, check the root's fingerprint, save URL and bundle.

    Saved in $ALBCA_CLIENT_CONFIG, else $XDG_CONFIG_HOME/albca/client.toml, else
    ~/.config/albca/client.toml (the bundle beside it). A wrong fingerprint saves nothing.

    Example: albca bootstrap --ca-url https://ca.internal:8443 --fingerprint 3f9a...
    """
    from albca.holder.bootstrap import bootstrap as run_bootstrap
    from albca.holder.bootstrap import fingerprint as fingerprint_of
    from albca.holder.client import CaClient
    from albca.holder.config import ClientConfig, save_config

    if not ca_url.startswith("https://"):
        fail(f"--ca-url: {ca_url} is not https://; the API's TLS is what bootstrap checks")
    path = holder_config_path()
    with holder_errors():
        result = run_bootstrap(
            ca_url,
            fingerprint,
            make_client=lambda pem: CaClient(ca_url, bundle_pem=pem),
        )
        config = ClientConfig(
            ca_url=ca_url.rstrip("/"),
            bundle=path.parent / "ca-bundle.pem",
            fingerprint=fingerprint_of(result.root),
            renewal_audience=renewal_audience,
        )
        try:
            save_config(path, config, result.bundle_pem)
        except OSError as exc:
            fail(f"cannot write {path}: {exc.strerror}")
    typer.echo(f"trusting {result.root.subject.rfc4514_string()} ({config.fingerprint})")
    if result.dropped:
        typer.echo(f"ignored {result.dropped} certificate(s) that do not chain to that root")
    typer.echo(f"saved {path} and {config.bundle}")


def _request_command(kind: str, help_text: str) -> Callable[..., None]:
    def command(
        cn: Annotated[str | None, typer.Option("--cn", help="Subject common name.")] = None,
        dns: Annotated[
            list[str] | None, typer.Option("--dns", help="DNS SAN (repeatable).")
        ] = None,
        ip: Annotated[list[str] | None, typer.Option("--ip", help="IP SAN (repeatable).")] = None,
        profile: Annotated[
            str | None, typer.Option(help="The CA's profile (default: client or server).")
        ] = None,
        lifetime: Annotated[
            str | None, typer.Option(help="Validity such as 30d, 36h (default: the profile's).")
        ] = None,
        key_type: KeyTypeOption = "ec-p256",
        token: Annotated[
            str | None,
            typer.Option(envvar="ALBCA_TOKEN", help="API token (or ALBCA_TOKEN, --token-file)."),
        ] = None,
        token_file: Annotated[
            Path | None, typer.Option(help="A file holding the API token.")
        ] = None,
        out: Annotated[Path, typer.Option(help="Directory to write the files to.")] = Path(),
        name: Annotated[
            str | None, typer.Option(help="Base name of the files (default: from the names).")
        ] = None,
        p12: Annotated[
            bool,
            typer.Option(
                "--p12",
                help="Also write a PKCS#12 file (password: ALBCA_P12_PASSWORD, "
                "--p12-password-file or a prompt).",
            ),
        ] = False,
        p12_legacy: P12LegacyOption = False,
        p12_password_file: Annotated[
            Path | None, typer.Option(help="File holding the PKCS#12 password.")
        ] = None,
        force: Annotated[bool, typer.Option(help="Overwrite files that already exist.")] = False,
        json_output: JsonOption = False,
    ) -> None:
        _request(
            kind, cn, dns, ip, profile, lifetime, key_type, token, token_file, out, name,
            p12 or p12_legacy, p12_legacy, p12_password_file, force, json_output,
        )  # fmt: skip

    command.__doc__ = help_text
    return command


request_app.command("client")(
    _request_command(
        "client",
        """Request a client certificate (mTLS to an ALB); the key is made here.

    Example: albca request client --cn alice --token-file ~/.albca-token --p12
    """,
    )
)
request_app.command("server")(
    _request_command(
        "server",
        """Request a server certificate (at least one --dns or --ip); the key is made here.

    Example: albca request server --dns web.svc.internal --out /etc/ssl/web
    """,
    )
)


def _request(
    kind: str,
    cn: str | None,
    dns: list[str] | None,
    ip: list[str] | None,
    profile: str | None,
    lifetime: str | None,
    key_type: str,
    token: str | None,
    token_file: Path | None,
    out: Path,
    name: str | None,
    p12: bool,
    p12_legacy: bool,
    p12_password_file: Path | None,
    force: bool,
    json_output: bool,
) -> None:
    import uuid
    from datetime import UTC, datetime

    from cryptography import x509

    from albca.ca.issued import encode_pkcs12
    from albca.ca.keys import KeySpec
    from albca.ca.names import RequestedNames
    from albca.holder.config import load_config
    from albca.holder.files import base_name, new_file_paths, write_new_file
    from albca.holder.keys import csr_pem, key_pem, new_key
    from albca.holder.verify import same_public_key, verify_certificate

    secret = _token(token, token_file)
    names = RequestedNames.of(common_name=cn, dns_names=dns or [], ip_addresses=ip or [])
    if names.is_empty:
        fail("give the names to certify (--cn, --dns, --ip)")
    spec = KeySpec.parse(key_type, field="--key-type")
    requested = parse_lifetime(lifetime)
    base = base_name(name, names)
    paths = new_file_paths(out.resolve(), base, with_p12=p12)
    for path in paths.values():
        check_writable(path, force=force)
    password = (
        new_p12_password(
            p12_password_file, option="--p12-password-file", nothing_done="nothing was requested"
        )
        if p12
        else None
    )
    with holder_errors():
        config = load_config(holder_config_path())
        key = new_key(spec)
        csr = csr_pem(key, names)
        with _client(config) as client:
            # One Idempotency-Key for this request and all its retries: a lost answer
            # returns the same certificate, never a second one.
            issued = client.issue(
                token=secret,
                profile=profile or kind,
                csr_pem=csr,
                lifetime_seconds=int(requested.total_seconds()) if requested else None,
                idempotency_key=str(uuid.uuid4()),
            )
        certificate = x509.load_pem_x509_certificate(issued.certificate_pem.encode())
        chain = x509.load_pem_x509_certificates(issued.chain_pem.encode())
        if not same_public_key(certificate, key):
            fail(f"the CA returned certificate {issued.serial} for another key; nothing written")
        trusted = x509.load_pem_x509_certificates(config.bundle_pem())
        now = max(datetime.now(UTC), certificate.not_valid_before_utc)
        verify_certificate(certificate, trusted, intermediates=chain, now=now)
    files = {
        "private_key": (key_pem(key), True),
        "certificate": (issued.certificate_pem.encode(), False),
        "chain": (issued.chain_pem.encode(), False),
        "fullchain": ((issued.certificate_pem + issued.chain_pem).encode(), False),
    }
    if password is not None:
        if p12_legacy:
            warn_p12_legacy()
        data = encode_pkcs12(key, certificate, chain, password, name=base, legacy=p12_legacy)
        files["pkcs12"] = (data, True)
    for label, (data, private) in files.items():
        try:
            write_new_file(paths[label], data, private=private, force=force)
        except FileExistsError:
            fail(f"{paths[label]} appeared meanwhile; certificate {issued.serial} was issued")
        except OSError as exc:
            fail(f"cannot write {paths[label]}: {exc.strerror} (certificate {issued.serial})")
    if json_output:
        emit_json(
            {
                "serial": issued.serial,
                "not_after": certificate.not_valid_after_utc.isoformat(),
                "files": {label: str(path) for label, path in paths.items()},
            }
        )
        return
    emit_fields(
        [
            ("serial", issued.serial),
            ("subject", certificate.subject.rfc4514_string() or "(empty; names in the SAN)"),
            ("valid until", certificate.not_valid_after_utc.isoformat()),
            *[(label.replace("_", " "), str(path)) for label, path in paths.items()],
        ]
    )


def _token(token: str | None, token_file: Path | None) -> str:
    if token is not None and token_file is not None:
        fail("give the API token once: --token (or ALBCA_TOKEN) or --token-file")
    if token_file is not None:
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            fail(f"--token-file: cannot read {token_file}: {exc.strerror}")
    if not token:
        fail("an API token is needed: --token, ALBCA_TOKEN or --token-file")
    return token.strip()


def renew(
    cert: Annotated[Path, typer.Option("--cert", help="The certificate to renew (PEM).")],
    key: Annotated[Path, typer.Option("--key", help="Its private key (PEM, unencrypted).")],
    chain: Annotated[
        Path | None, typer.Option(help="Also replace this chain file (issuing CAs).")
    ] = None,
    rekey: Annotated[bool, typer.Option(help="Renew with a new key made here.")] = False,
    key_type: Annotated[
        str | None, typer.Option(help="With --rekey: the new key's type (default: the same).")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Renew a certificate by proving possession of its key (no API token needed).

    The files are replaced, with their permissions, only after the new certificate
    verifies against the saved bundle. Files `albca request` wrote beside the pair
    (NAME.crt.pem, NAME.fullchain.pem, NAME.chain.pem with NAME.key.pem) are replaced
    with it, in the same swap.

    Example: albca renew --cert web.crt.pem --key web.key.pem --rekey
    """
    from datetime import UTC, datetime

    from cryptography import x509

    from albca.ca.keys import KeySpec
    from albca.holder.config import load_config
    from albca.holder.files import held_lock, pair_with_siblings
    from albca.holder.renewal import PendingRenewal, renew_pair

    if key_type is not None and not rekey:
        fail("--key-type needs --rekey (without it, the key stays the same)")
    spec = KeySpec.parse(key_type, field="--key-type") if key_type else None
    with holder_errors():
        paths = pair_with_siblings(cert, key, chain)
        config = load_config(holder_config_path())
        trusted = x509.load_pem_x509_certificates(config.bundle_pem())
        with held_lock(paths), _client(config) as client:
            renewed = renew_pair(
                client,
                paths,
                PendingRenewal(rekey=rekey, key_spec=spec),
                trusted=trusted,
                audience=config.renewal_audience,
                now=datetime.now(UTC),
            )
    summary = {
        "old_serial": f"{renewed.old.serial_number:x}",
        "serial": f"{renewed.new.serial_number:x}",
        "not_after": renewed.new.not_valid_after_utc.isoformat(),
        "rekeyed": rekey,
    }
    if json_output:
        emit_json(summary)
    else:
        emit_fields(
            [
                ("renewed", f"{summary['old_serial']} -> {summary['serial']}"),
                ("valid until", summary["not_after"]),
                ("new key", "yes" if rekey else "no (same key)"),
            ]
        )


def agent(
    cert: Annotated[
        list[Path], typer.Option("--cert", help="A certificate to keep fresh (repeatable).")
    ],
    key: Annotated[
        list[Path], typer.Option("--key", help="Its key, in the order of --cert (repeatable).")
    ],
    exec_command: Annotated[
        str | None,
        typer.Option("--exec", help="Run this after each renewal, e.g. 'systemctl reload nginx'."),
    ] = None,
    once: Annotated[
        bool, typer.Option(help="Renew what is due and exit (for cron or a systemd timer).")
    ] = False,
    renew_at: Annotated[float, typer.Option(help="Renew after this fraction of the lifetime.")] = 2
    / 3,
    jitter: Annotated[
        float, typer.Option(help="Renew up to this fraction of the lifetime earlier, at random.")
    ] = 0.05,
    rekey: Annotated[bool, typer.Option(help="Make a new key at each renewal.")] = False,
) -> None:
    """Keep certificate/key pairs fresh: renew at 2/3 of their lifetime, with jitter.

    While the CA is down or busy, or refuses for clock skew, the old files stay and renewal
    is retried with backoff. A certificate that was revoked or has expired is reported in
    one line and no longer watched; the others are kept fresh, and the agent stops with
    status 1 when none is left. One agent per pair: a second one on the same files exits
    at once.

    Example: albca agent --cert /etc/ssl/web.crt --key /etc/ssl/web.key \\
    --exec 'systemctl reload nginx'
    """
    import shlex
    import subprocess
    import time
    from datetime import UTC, datetime

    from cryptography import x509

    from albca.ca.clock import system_clock
    from albca.holder.agent import Agent, AgentPolicy
    from albca.holder.config import load_config
    from albca.holder.files import PairPaths, held_lock, pair_with_siblings
    from albca.holder.renewal import PendingRenewal, Renewed, renew_pair

    if len(cert) != len(key):
        fail(f"give one --key per --cert ({len(cert)} certificates, {len(key)} keys)")
    try:
        policy = AgentPolicy(renew_at=renew_at, jitter=jitter, rekey=rekey)
    except ValueError as exc:
        fail(f"--{str(exc).replace('_', '-')}")
    command = shlex.split(exec_command) if exec_command else None
    pairs = [pair_with_siblings(c, k) for c, k in zip(cert, key, strict=True)]

    def log(line: str) -> None:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        typer.echo(f"{stamp} albca agent: {line}", err=True)

    def hook(paths: PairPaths, renewed: Renewed) -> None:
        if command is None:
            return
        try:
            result = subprocess.run(command, check=False)  # noqa: S603 - the user's own command
        except OSError as exc:
            log(f"--exec {exec_command!r} could not start: {exc.strerror}")
            return
        if result.returncode != 0:
            log(f"--exec {exec_command!r} exited with status {result.returncode}")

    with holder_errors(), contextlib.ExitStack() as stack:
        config = load_config(holder_config_path())
        trusted = x509.load_pem_x509_certificates(config.bundle_pem())
        for paths in pairs:
            stack.enter_context(held_lock(paths))
        client = stack.enter_context(_client(config))

        def renew_one(paths: PairPaths, pending: PendingRenewal, now: datetime) -> Renewed:
            return renew_pair(
                client, paths, pending, trusted=trusted, audience=config.renewal_audience, now=now
            )

        runner = Agent(
            pairs=pairs,
            renew=renew_one,
            clock=system_clock,
            sleep=time.sleep,
            policy=policy,
            on_renewed=hook,
            log=log,
        )
        if once:
            count = runner.run_once()
            log(f"{count} of {len(pairs)} renewed; the others are not due")
            return
        log(f"watching {len(pairs)} certificate(s); renewing after {renew_at:.4g} of the lifetime")
        runner.run()
