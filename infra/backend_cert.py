"""The certificate and key a backend instance serves HTTPS with (re-encryption behind a load
balancer): self-signed, or issued by the CA's server profile; PEM files in a directory.

A second run with the same names changes nothing while the certificate is not due for
renewal. A renewal (due, or asked for) writes a new certificate; with ``keep_key`` it
keeps the key file, so a key pinned on a Classic ELB (``albca backend pin``) stays valid.

Files, for base name NAME: ``NAME.crt.pem`` (the certificate), ``NAME.key.pem`` (the key,
mode 0600), ``NAME.fullchain.pem`` (certificate then issuing CA: what the server sends).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from albca.ca.certificates import leaf_key_usage
from albca.ca.issued import IssuedCertificate
from albca.ca.keys import CAKey, KeySpec, generate_private_key, key_spec_of, signature_hash
from albca.ca.names import RequestedNames
from albca.ca.profiles import CertificateKind
from albca.infra.cert_checks import (
    issuing_ca,
    load_certificate_file,
    load_private_key_file,
    renewal_due,
    require_matching_key,
)
from albca.infra.errors import CertificateUnusable, SetupRefused

__all__ = ["BackendFiles", "BackendCertRequest", "IssueForKey", "ensure_backend_certificate"]

IssueForKey = Callable[[CertificatePublicKeyTypes, RequestedNames], IssuedCertificate]
"""Issues a server certificate for a public key the caller holds the private key of."""

SELF_SIGNED_LIFETIME = timedelta(days=365)


@dataclass(frozen=True)
class BackendFiles:
    directory: Path
    name: str

    @property
    def certificate(self) -> Path:
        return self.directory / f"{self.name}.crt.pem"

    @property
    def key(self) -> Path:
        return self.directory / f"{self.name}.key.pem"

    @property
    def full_chain(self) -> Path:
        return self.directory / f"{self.name}.fullchain.pem"


@dataclass(frozen=True)
class BackendCertRequest:
    names: RequestedNames
    self_signed: bool = False
    keep_key: bool = False
    renew: bool = False
    force: bool = False  # replace a certificate for other names or of the other kind
    key_spec: KeySpec = KeySpec.EC_P256
    lifetime: timedelta | None = None  # None: 1 year self-signed, the profile's otherwise

    @property
    def kind(self) -> str:
        return "self-signed" if self.self_signed else "CA-issued"


@dataclass(frozen=True)
class BackendResult:
    changed: bool
    summary: str
    key_changed: bool


def ensure_backend_certificate(
    files: BackendFiles,
    request: BackendCertRequest,
    *,
    issue: IssueForKey | None,
    authorities: Sequence[x509.Certificate],
    now: datetime,
) -> BackendResult:
    if not request.self_signed and issue is None:
        raise ValueError("a CA-issued backend certificate needs issue")
    existing = _existing(files)
    key: CAKey | None = None
    if existing is not None:
        certificate, key = existing
        _require_same_certificate(certificate, request, authorities, files)
        due = renewal_due(certificate, now)
        if not request.renew and not due:
            return BackendResult(
                changed=False,
                summary=f"{files.certificate}: {request.kind} certificate for "
                f"{request.names.describe()}, valid until "
                f"{certificate.not_valid_after_utc.isoformat()}; not due for renewal",
                key_changed=False,
            )
        if not request.keep_key:
            key = None
    elif request.keep_key:
        raise SetupRefused(
            f"--keep-key: there is no key to keep at {files.key}", rule="key file exists"
        )
    key_changed = key is None
    if key is None:
        key = generate_private_key(request.key_spec)
    if request.self_signed:
        certificate = _self_signed(key, request.names, now, request.lifetime)
        chain: tuple[x509.Certificate, ...] = ()
    else:
        assert issue is not None
        issued = issue(key.public_key(), request.names)
        certificate, chain = issued.certificate, issued.chain
    files.directory.mkdir(parents=True, exist_ok=True)
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    if key_changed:
        _write(files.key, _key_pem(key), private=True)
    _write(files.certificate, pem, private=False)
    chain_pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
    _write(files.full_chain, pem + chain_pem, private=False)
    verb = "renewed" if existing is not None else "wrote"
    key_note = "kept the key" if not key_changed else "new key"
    return BackendResult(
        changed=True,
        summary=f"{verb} {files.certificate} ({request.kind} for {request.names.describe()}, "
        f"valid until {certificate.not_valid_after_utc.isoformat()}; {key_note})",
        key_changed=key_changed and existing is not None,
    )


def _existing(files: BackendFiles) -> tuple[x509.Certificate, CAKey] | None:
    have_certificate, have_key = files.certificate.exists(), files.key.exists()
    if not have_certificate and not have_key:
        return None
    if have_certificate != have_key:
        present, missing = (
            (files.certificate, files.key) if have_certificate else (files.key, files.certificate)
        )
        raise CertificateUnusable(
            f"{present} exists but {missing} does not: move it away or restore the pair",
            source=str(present),
        )
    certificate = load_certificate_file(files.certificate)
    key = load_private_key_file(files.key)
    require_matching_key(certificate, key, source=str(files.certificate))
    return certificate, key


def _require_same_certificate(
    certificate: x509.Certificate,
    request: BackendCertRequest,
    authorities: Sequence[x509.Certificate],
    files: BackendFiles,
) -> None:
    if request.force:
        return
    self_signed = certificate.issuer == certificate.subject
    ours = not self_signed and issuing_ca(certificate, authorities) is not None
    if request.self_signed != self_signed or (not request.self_signed and not ours):
        kind = "self-signed" if self_signed else "issued by another CA" if not ours else "CA"
        raise SetupRefused(
            f"{files.certificate} holds a {kind} certificate, not a {request.kind} one; "
            "use --force to replace it",
            rule="same kind of certificate",
        )
    names = _dns_names(certificate)
    if names != set(request.names.dns_names):
        raise SetupRefused(
            f"{files.certificate} is for {', '.join(sorted(names)) or 'no DNS names'}, not "
            f"{', '.join(request.names.dns_names)}; use --force to replace it, or --name",
            rule="same names",
        )


def _dns_names(certificate: x509.Certificate) -> set[str]:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return set()
    return set(san.get_values_for_type(x509.DNSName))


def _self_signed(
    key: CAKey, names: RequestedNames, now: datetime, lifetime: timedelta | None
) -> x509.Certificate:
    """A self-signed server certificate: the backend's own, trusted by pinning its key (a
    Classic ELB) or not at all (an ALB accepts any backend certificate)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names.dns_names[0])])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + (lifetime or SELF_SIGNED_LIFETIME))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            leaf_key_usage(CertificateKind.SERVER, rsa_key=isinstance(key, rsa.RSAPrivateKey)),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names.dns_names]),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, signature_hash(key_spec_of(key.public_key())))
    )


def _key_pem(key: CAKey) -> bytes:
    # Unencrypted: the web server on the instance reads it at start-up, as the Elastic
    # Beanstalk recipe expects. The file is created with mode 0600.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, *, private: bool) -> None:
    """Write beside the target and rename over it: never half a file."""
    try:
        fd, staging = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), 0o600 if private else 0o644)
                out.write(data)
            os.replace(staging, path)
        except BaseException:
            Path(staging).unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CertificateUnusable(
            f"cannot write {path}: {exc.strerror or exc}", source=str(path)
        ) from None
