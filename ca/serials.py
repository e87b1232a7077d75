"""Finding a certificate by the serial a person types: whole, or a unique prefix.

People copy the first digits of a serial from a table (``albca list`` shows 12) or from
``openssl x509 -serial`` (colons, upper case, a leading ``00``). A whole serial is looked
up first; failing that, at least ``MIN_PREFIX_DIGITS`` hex digits are taken as the start
of exactly one serial. Eight hex digits are 32 bits: with random 159-bit serials
(RFC 5280 section 4.1.2.2; CA/B Forum BR 7.1 asks for 64 random bits) a prefix of that
length is shared only once a CA has issued tens of thousands of certificates, and then
the ambiguity is reported with the candidates.
"""

from __future__ import annotations

from albca.ca.errors import AmbiguousSerial, CertificateNotFound
from albca.ca.records import CertificateRecord, parse_serial
from albca.ca.stores.protocol import CertificateStore

__all__ = ["MIN_PREFIX_DIGITS", "find_certificate"]

MIN_PREFIX_DIGITS = 8
_SHOWN_MATCHES = 5


def find_certificate(store: CertificateStore, text: str | int) -> CertificateRecord:
    """The certificate whose serial is ``text`` or, failing that, starts with it."""
    serial = parse_serial(text)
    try:
        return store.get_certificate(serial)
    except CertificateNotFound:
        digits = f"{serial:x}"  # colons, case and leading zeros dropped by parse_serial
        if isinstance(text, int) or len(digits) < MIN_PREFIX_DIGITS:
            raise
    matches = store.serials_with_prefix(digits, limit=_SHOWN_MATCHES + 1)
    if not matches:
        raise CertificateNotFound(serial)
    if len(matches) > 1:
        raise AmbiguousSerial(digits, matches[:_SHOWN_MATCHES], more=len(matches) > _SHOWN_MATCHES)
    return store.get_certificate(matches[0])
