"""Full CRLs (RFC 5280 section 5), encoded directly: 500,000 entries in a fraction of a second.

Why not cryptography's ``CertificateRevocationListBuilder``: it needs one
``RevokedCertificate`` object per entry, made through a builder, and at 500,000 entries
(the ALB trust store limit) that alone takes about 4 s before signing. The structure of a
CRL is small and fixed, so this module writes the DER itself and leaves the one delicate
part, the signature, to the CA's signer. The tests parse every CRL back with cryptography
and OpenSSL, check the signature, and lint it with pkilint.

The entries come as values (``RevokedEntry``), encoded here by ``ca.der.crl_entries``, or
already encoded by the store (``EncodedEntries``: both stores keep each entry's DER from
the moment of the revocation), whose bytes go into the CRL as they are, copied once.
"""

from __future__ import annotations

import base64
import contextlib
import gc
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from albca.ca.der import primitives as der
from albca.ca.der.crl_entries import EncodedEntries, encode_entries
from albca.ca.keys import signature_hash
from albca.ca.records import RevokedEntry
from albca.ca.signer import Signer, sign_bytes

__all__ = ["CRLDocument", "build_crl", "collector_paused", "signature_algorithm_identifier"]

# 1,024 lines of PEM: 48 bytes of DER each.
_PEM_BLOCK = 48 * 1024

_AUTHORITY_KEY_ID_OID = der.object_identifier("2.5.29.35")
_CRL_NUMBER_OID = der.object_identifier("2.5.29.20")
_VERSION_2 = der.integer(1)

# AlgorithmIdentifier per (key family, hash): ECDSA takes no parameters (RFC 5758
# section 3.2); RSA PKCS#1 v1.5 takes an explicit NULL (RFC 4055 section 5).
_NULL = b"\x05\x00"
_ALGORITHMS: dict[tuple[bool, str], bytes] = {
    (True, "sha256"): der.sequence(der.object_identifier("1.2.840.10045.4.3.2")),
    (True, "sha384"): der.sequence(der.object_identifier("1.2.840.10045.4.3.3")),
    (True, "sha512"): der.sequence(der.object_identifier("1.2.840.10045.4.3.4")),
    (False, "sha256"): der.sequence(der.object_identifier("1.2.840.113549.1.1.11"), _NULL),
    (False, "sha384"): der.sequence(der.object_identifier("1.2.840.113549.1.1.12"), _NULL),
    (False, "sha512"): der.sequence(der.object_identifier("1.2.840.113549.1.1.13"), _NULL),
}


@dataclass(frozen=True)
class CRLDocument:
    """A signed CRL and the facts about it that publishing and auditing need."""

    der: bytes
    number: int
    issuer_key_id: str
    this_update: datetime
    next_update: datetime
    entries: int

    @property
    def pem(self) -> bytes:
        # RFC 7468 section 2: lines of exactly 64 characters. Encoded a block of 1,024 lines
        # at a time, so that the lines of a 25 MiB CRL (400,000 small bytes objects, twice
        # the PEM's size) never all exist at once (issue 17: 200 MB at most).
        blocks = [b"-----BEGIN X509 CRL-----"]
        for start in range(0, len(self.der), _PEM_BLOCK):
            encoded = base64.b64encode(self.der[start : start + _PEM_BLOCK])
            blocks.append(b"\n".join([encoded[i : i + 64] for i in range(0, len(encoded), 64)]))
        blocks.append(b"-----END X509 CRL-----\n")
        # Every block but the last is whole lines, so the blocks join with a line break.
        return b"\n".join(blocks)


def signature_algorithm_identifier(signer: Signer) -> bytes:
    return _ALGORITHMS[(signer.key_spec.is_ec, signature_hash(signer.key_spec).name)]


def build_crl(
    *,
    issuer: x509.Certificate,
    signer: Signer,
    number: int,
    this_update: datetime,
    next_update: datetime,
    entries: Iterable[RevokedEntry] | EncodedEntries,
) -> CRLDocument:
    """Encode and sign a full CRL for ``issuer`` holding ``entries``: plain values, or
    entries a store kept encoded (``EncodedEntries``, used as they are)."""
    if next_update <= this_update:
        raise ValueError("next_update must be after this_update")
    if number < 0:
        raise ValueError("number must not be negative")
    key_identifier = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    algorithm = signature_algorithm_identifier(signer)
    encoded = entries if isinstance(entries, EncodedEntries) else encode_entries(entries)
    # With no entries the field is left out entirely (RFC 5280 section 5.1.2.6). The
    # entries' bytes are copied once, into the TBS, never wrapped in a SEQUENCE of their own.
    revoked = _sequence_header(len(encoded.der)) if encoded.count else b""

    extensions = der.sequence(
        der.sequence(
            _AUTHORITY_KEY_ID_OID,
            der.octet_string(
                x509.AuthorityKeyIdentifier(
                    key_identifier=key_identifier.value.digest,
                    authority_cert_issuer=None,
                    authority_cert_serial_number=None,
                ).public_bytes()
            ),
        ),
        der.sequence(_CRL_NUMBER_OID, der.octet_string(x509.CRLNumber(number).public_bytes())),
    )
    tbs = _sequence_of(
        _VERSION_2,
        algorithm,
        issuer.subject.public_bytes(),
        der.time(this_update),
        der.time(next_update),
        revoked,
        encoded.der if encoded.count else b"",
        der.explicit(0, extensions),
    )
    signature = sign_bytes(signer, tbs)
    return CRLDocument(
        der=_sequence_of(tbs, algorithm, der.bit_string(signature)),
        number=number,
        issuer_key_id=key_identifier.value.digest.hex(),
        this_update=this_update,
        next_update=next_update,
        entries=encoded.count,
    )


def _sequence_header(size: int) -> bytes:
    return b"\x30" + der.length(size)


def _sequence_of(*parts: bytes) -> bytes:
    """``der.sequence`` in one copy: the header joined with the parts, not prepended to
    their join (at 25 MiB of entries every copy counts, in time and in peak memory)."""
    return b"".join([_sequence_header(sum(len(part) for part in parts)), *parts])


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Hold off Python's cycle collector while a CRL's entries are loaded.

    Every entry is a tuple, and the collector walks all live tuples each time enough new
    ones have been allocated: loading 500,000 entries set it off again and again, a third
    of the load's time. Tuples of ints cannot form cycles, so there is nothing to collect;
    the collector runs as usual once the load is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
