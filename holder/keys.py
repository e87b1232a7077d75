"""Keys and CSRs made on the holder's machine: the key never leaves it. (Its PKCS#12 files
are encoded by ``albca.ca.issued.encode_pkcs12``, as the CA's are.)"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from albca.ca.issued import MIN_PKCS12_PASSWORD_LENGTH
from albca.ca.keys import CAKey, KeySpec, generate_private_key, key_spec_of, signature_hash
from albca.ca.names import RequestedNames

__all__ = ["new_key", "key_pem", "csr_pem", "MIN_PKCS12_PASSWORD_LENGTH"]


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
