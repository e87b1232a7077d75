"""Keys, CSRs and PKCS#12 files made on the holder's machine: the key never leaves it."""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from albca.ca.issued import MIN_PKCS12_PASSWORD_LENGTH
from albca.ca.keys import CAKey, KeySpec, generate_private_key, key_spec_of, signature_hash
from albca.ca.names import RequestedNames

__all__ = ["new_key", "key_pem", "csr_pem", "pkcs12_file", "MIN_PKCS12_PASSWORD_LENGTH"]


def new_key(spec: KeySpec) -> CAKey:
    return generate_private_key(spec)


def key_pem(key: CAKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def csr_pem(key: CAKey, names: RequestedNames) -> str:
    """A PKCS#10 request for ``names``; the API takes the names and the key from it (the
    profile decides everything else)."""
    subject = (
        [x509.NameAttribute(NameOID.COMMON_NAME, names.common_name)] if names.common_name else []
    )
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    general: list[x509.GeneralName] = [x509.DNSName(name) for name in names.dns_names]
    general += [x509.IPAddress(ip) for ip in names.ip_addresses]
    if general:
        builder = builder.add_extension(x509.SubjectAlternativeName(general), critical=False)
    digest = signature_hash(key_spec_of(key.public_key()))
    return builder.sign(key, digest).public_bytes(serialization.Encoding.PEM).decode("ascii")


def pkcs12_file(
    key: CAKey,
    certificate: x509.Certificate,
    chain: list[x509.Certificate],
    password: bytes,
    *,
    legacy: bool,
    name: str,
) -> bytes:
    """A password-protected PKCS#12 file.

    Modern (the default, as ``albca issue --p12``): AES-256-CBC with PBKDF2-SHA256 and a
    SHA-256 MAC. Legacy: 3DES (pbeWithSHAAnd3-KeyTripleDES-CBC, RFC 7292 appendix C) and a
    SHA-1 MAC, the only scheme older Windows, macOS before 14 and Java 8 keystores read;
    weak, so the CLI warns.
    """
    if len(password) < MIN_PKCS12_PASSWORD_LENGTH:
        raise ValueError(
            f"the PKCS#12 password must be at least {MIN_PKCS12_PASSWORD_LENGTH} characters"
        )
    builder = serialization.PrivateFormat.PKCS12.encryption_builder()
    if legacy:
        encryption = (
            builder.kdf_rounds(50_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
            .hmac_hash(hashes.SHA1())  # noqa: S303 - the legacy format asked for
            .build(password)
        )
    else:
        encryption = (
            builder.kdf_rounds(100_000)
            .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
            .hmac_hash(hashes.SHA256())
            .build(password)
        )
    return pkcs12.serialize_key_and_certificates(name.encode(), key, certificate, chain, encryption)
