"""``albca demo``: the whole local story, offline, in a throw-away CA home.

init -> issue a server certificate and two client certificates -> revoke one -> write the
bundle and the CRL -> run an mTLS server that trusts the bundle and checks the CRL -> show
that the good client gets in and the revoked client and a client without a certificate do
not. Every step checks its own result; the demo fails (exit 1) if any step misbehaves.
"""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from albca.ca.issued import IssuedCertificate
from albca.ca.names import RequestedNames
from albca.ca.records import RevocationReason
from albca.compose.new_ca import InitOptions, initialize_ca
from albca.compose.passphrase import passphrase_source
from albca.compose.services import open_services
from albca.mtls_probe import MTLSServer, client_context, connect, server_context
from albca.settings import Settings
from albca.trust_bundle.bundle import TrustBundle

__all__ = ["run_demo", "DemoResult"]

_ACTOR = "demo"


@dataclass(frozen=True)
class DemoResult:
    directory: Path
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


def run_demo(
    say: Callable[[str], None], *, directory: Path | None = None, aws_emulated: bool = False
) -> DemoResult:
    """The offline story; with ``aws_emulated``, then the AWS steps against a local
    emulator (``albca.demo_aws``; needs the ``emulated`` extra)."""
    workdir = directory or Path(tempfile.mkdtemp(prefix="albca-demo-"))
    workdir.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []

    def check(ok: bool, success: str, failure: str) -> None:
        say(f"   {'ok  ' if ok else 'FAIL'} {success if ok else failure}")
        if not ok:
            failures.append(failure)

    # A random passphrase for a CA that lives only as long as this demo's directory.
    settings = Settings(
        home=workdir / "ca-home",
        key_passphrase=SecretStr(secrets.token_urlsafe(24)),
        key_passphrase_file=None,
        store=None,
    )
    passphrase = passphrase_source(settings)

    say("1. albca init: a root CA and an issuing CA (EC P-256, SHA-256)")
    result = initialize_ca(settings, passphrase, InitOptions(), actor=_ACTOR)
    say(f"   CA home {result.home}")

    services = open_services(settings, passphrase)
    try:
        authority = services.authority
        say("2. albca issue server --dns localhost --ip 127.0.0.1")
        server = authority.issue_with_new_key(
            profile="server",
            names=RequestedNames.of(dns_names=["localhost"], ip_addresses=["127.0.0.1"]),
            requested_by=_ACTOR,
        )
        _write_credentials(workdir, "server", server)
        say(f"   serial {server.serial:x}")

        say("3. albca issue client --cn alice   and   --cn bob")
        clients = {}
        for client_name in ("alice", "bob"):
            clients[client_name] = authority.issue_with_new_key(
                profile="client",
                names=RequestedNames.of(common_name=client_name),
                requested_by=_ACTOR,
            )
            _write_credentials(workdir, client_name, clients[client_name])
            say(f"   {client_name}: serial {clients[client_name].serial:x}")

        say("4. albca revoke <bob's serial> --reason key-compromise")
        revoked = authority.revoke(
            clients["bob"].serial, RevocationReason.KEY_COMPROMISE, requested_by=_ACTOR
        )
        check(
            revoked.revoked_at is not None,
            "bob's certificate is recorded as revoked",
            "bob's revocation was not recorded",
        )

        say("5. albca bundle > ca-bundle.pem   and   albca crl --out crl.pem")
        bundle_path = workdir / "ca-bundle.pem"
        bundle_path.write_bytes(TrustBundle.of(authority.trusted_certificates()).pem)
        crl = authority.generate_crl(requested_by=_ACTOR)
        crl_path = workdir / "crl.pem"
        crl_path.write_bytes(crl.pem)
        check(
            crl.entries == 1,
            f"CRL number {crl.number} lists 1 revoked certificate",
            f"the CRL lists {crl.entries} certificates, expected 1",
        )
    finally:
        services.close()

    say("6. an mTLS server on 127.0.0.1 that trusts ca-bundle.pem and checks crl.pem")
    context = server_context(
        certificate_chain=workdir / "server.fullchain.pem",
        private_key=workdir / "server.key.pem",
        ca_bundle=bundle_path,
        crl=crl_path,
    )
    with MTLSServer(context) as mtls:
        say(f"   listening on 127.0.0.1:{mtls.port}")
        cases: list[tuple[str, str | None, bool]] = [
            ("alice (valid certificate)", "alice", True),
            ("bob (revoked certificate)", "bob", False),
            ("a client without a certificate", None, False),
        ]
        for label, name, should_pass in cases:
            if name is None:
                client = client_context(ca_bundle=bundle_path)
            else:
                client = client_context(
                    ca_bundle=bundle_path,
                    certificate_chain=workdir / f"{name}.fullchain.pem",
                    private_key=workdir / f"{name}.key.pem",
                )
            outcome = connect(mtls.port, client, server_hostname="localhost")
            server_view = mtls.next_outcome()
            accepted = outcome.accepted and server_view.accepted
            verdict = (
                f"accepted: {outcome.detail}" if accepted else f"rejected: {server_view.detail}"
            )
            check(
                accepted == should_pass,
                f"{label}: {verdict}",
                f"{label}: {verdict} (expected {'accepted' if should_pass else 'rejected'})",
            )

    if aws_emulated:
        from albca.demo_aws import run_emulated_aws_steps

        services = open_services(settings, passphrase)
        try:
            run_emulated_aws_steps(say, check, services, workdir, first_step=7)
        finally:
            services.close()

    say(f"Artefacts are in {workdir}")
    say("   ca-bundle.pem, crl.pem, server.*, alice.*, bob.* and the CA home ca-home/")
    return DemoResult(directory=workdir, failures=tuple(failures))


def _write_credentials(directory: Path, name: str, issued: IssuedCertificate) -> None:
    (directory / f"{name}.crt.pem").write_bytes(issued.certificate_pem)
    (directory / f"{name}.fullchain.pem").write_bytes(issued.full_chain_pem)
    key_path = directory / f"{name}.key.pem"
    key_path.touch(mode=0o600)
    key_path.write_bytes(issued.private_key_pem())
