"""Key ids of CA certificates: how a CRL, a bundle and a trust store tag name one CA."""

from __future__ import annotations

from collections.abc import Sequence

from cryptography import x509

from albca.ca.certificates import key_id_of

__all__ = ["bundle_key_ids", "certificate_key_ids"]


def bundle_key_ids(pem: bytes) -> frozenset[str]:
    """Key ids of the CA certificates of a PEM bundle."""
    return certificate_key_ids(x509.load_pem_x509_certificates(pem))


def certificate_key_ids(certificates: Sequence[x509.Certificate]) -> frozenset[str]:
    ids = set()
    for certificate in certificates:
        try:
            ids.add(key_id_of(certificate))
        except x509.ExtensionNotFound:
            continue  # not a CA albca made: it has no CRL of albca's to track
    return frozenset(ids)
