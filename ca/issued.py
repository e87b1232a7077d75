"""What issuing hands back: the certificate, its chain, its record, and a key if we made it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from albca.ca.errors import InvalidRequest
from albca.ca.keys import CAKey
from albca.ca.records import CertificateRecord

__all__ = ["IssuedCertificate", "encode_pkcs12", "MIN_PKCS12_PASSWORD_LENGTH"]

MIN_PKCS12_PASSWORD_LENGTH = 8


@dataclass(frozen=True)
class IssuedCertificate:
    record: CertificateRecord
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]  # issuing CA first, then up to (excluding) the root
    private_key: CAKey | None = None  # only when albca made the key

    @property
    def serial(self) -> int:
        return self.record.serial

    @property
    def certificate_pem(self) -> bytes:
        return self.record.certificate_pem.encode("ascii")

    @property
    def chain_pem(self) -> bytes:
        return b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in self.chain)

    @property
    def full_chain_pem(self) -> bytes:
        """Leaf then intermediates: what a TLS server or client presents."""
        return self.certificate_pem + self.chain_pem

    def private_key_pem(self, passphrase: bytes | None = None) -> bytes:
        key = self._key()
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(passphrase)
            if passphrase
            else serialization.NoEncryption()
        )
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )

    def pkcs12(
        self, password: bytes, *, friendly_name: str | None = None, legacy: bool = False
    ) -> bytes:
        """A password-protected PKCS#12 file (key, certificate, chain); see
        ``encode_pkcs12`` for the two formats."""
        name = friendly_name or self.record.common_name or f"albca-{self.serial:x}"
        return encode_pkcs12(
            self._key(), self.certificate, self.chain, password, name=name, legacy=legacy
        )

    def _key(self) -> CAKey:
        if self.private_key is None:
            raise ValueError(
                "this certificate was issued from a CSR: its private key never reached the CA"
            )
        return self.private_key


def encode_pkcs12(
    key: CAKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    password: bytes,
    *,
    name: str,
    legacy: bool = False,
) -> bytes:
    """A password-protected PKCS#12 file: the one encoder of ``albca issue`` (the CA made
    the key) and ``albca request`` (the holder made it).

    Modern (the default): AES-256-CBC with PBKDF2-SHA256 and a SHA-256 MAC, what OpenSSL 3,
    Firefox, Chromium, curl, Java 17 and macOS 14 read. Legacy: 3DES
    (pbeWithSHAAnd3-KeyTripleDES-CBC, RFC 7292 appendix C) for key and certificates and a
    SHA-1 MAC, the only scheme macOS Keychain up to 13, iOS, Android up to 13, Windows
    before 10 1709 and Java before 8u301 read; weak, so the CLI warns. The password must
    be long enough to resist guessing: a PKCS#12 file often travels by e-mail or chat.
    """
    if len(password) < MIN_PKCS12_PASSWORD_LENGTH:
        raise InvalidRequest(
            f"pkcs12_password: must be at least {MIN_PKCS12_PASSWORD_LENGTH} characters",
            field="pkcs12_password",
        )
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        builder = (
            builder.kdf_rounds(50_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy format, asked for
        )
    else:
        builder = (
            builder.kdf_rounds(100_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
        )
    return pkcs12.serialize_key_and_certificates(
        name.encode(), key, certificate, list(chain), builder.build(password)
    )
