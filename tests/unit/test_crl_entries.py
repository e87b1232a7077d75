"""CRL entries encoded one at a time (as the SQLite store keeps them) are the entries a CRL
holds: cryptography reads them back, and they decode to what was encoded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509

from albca.ca.crl import build_crl
from albca.ca.der.crl_entries import EncodedEntries, encode_entries, encode_entry, entry_spans
from albca.ca.keys import KeySpec
from albca.ca.records import RevocationReason, RevokedEntry

THIS_UPDATE = datetime(2026, 3, 1, tzinfo=UTC)
# Both time encodings (UTCTime up to 2049, GeneralizedTime from 2050; RFC 5280 4.1.2.5) and
# both UTCTime centuries (YY 50-99 are 19YY).
TIMES = [
    int(datetime(1950, 1, 1, tzinfo=UTC).timestamp()),
    int(datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()),
    int(datetime(2026, 2, 1, 8, 30, 15, tzinfo=UTC).timestamp()),
    int(datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()),
    int(datetime(2050, 1, 1, tzinfo=UTC).timestamp()),
]
ENTRIES = [
    RevokedEntry(serial, TIMES[index % len(TIMES)], int(reason))
    for index, (serial, reason) in enumerate(
        (serial, reason)
        for serial in (1, 0x7F, 0x80, 0xFFFF, (1 << 159) - 1)
        for reason in RevocationReason
    )
]


def test_entries_encoded_one_by_one_equal_the_batch_encoding():
    one_by_one = b"".join(encode_entry(*entry) for entry in ENTRIES)
    assert encode_entries(ENTRIES) == EncodedEntries(one_by_one, len(ENTRIES))


def test_encoded_entries_decode_to_what_was_encoded():
    assert list(encode_entries(ENTRIES)) == ENTRIES
    assert list(EncodedEntries(b"", 0)) == []


def test_entry_spans_cut_joined_entries_at_their_boundaries():
    joined = encode_entries(ENTRIES).der
    spans = list(entry_spans(joined))
    assert [joined[start:end] for start, end in spans] == [encode_entry(*e) for e in ENTRIES]
    assert list(entry_spans(b"")) == []


def test_a_crl_of_stored_entries_reads_back_in_cryptography(hierarchies):
    ca = hierarchies.get(KeySpec.EC_P256)
    stored = EncodedEntries(b"".join(encode_entry(*entry) for entry in ENTRIES), len(ENTRIES))
    document = _build(ca, stored)
    crl = x509.load_der_x509_crl(document.der)
    assert crl.is_signature_valid(ca.issuing.public_key())
    assert document.entries == len(crl) == len(ENTRIES)
    read = sorted(
        (
            revoked.serial_number,
            int(revoked.revocation_date_utc.timestamp()),
            _reason(revoked),
        )
        for revoked in crl
    )
    assert read == sorted(ENTRIES)
    # The same CRL as one built from the values: the stored bytes are the entries.
    assert _tbs(_build(ca, ENTRIES).der) == _tbs(document.der)


def _build(ca, entries):
    return build_crl(
        issuer=ca.issuing,
        signer=ca.issuing_signer,
        number=7,
        this_update=THIS_UPDATE,
        next_update=THIS_UPDATE + timedelta(days=7),
        entries=entries,
    )


def _reason(revoked: x509.RevokedCertificate) -> int:
    try:
        flag = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
    except x509.ExtensionNotFound:
        return 0  # unspecified is left out (RFC 5280 section 5.3.1)
    return {
        x509.ReasonFlags.key_compromise: 1,
        x509.ReasonFlags.ca_compromise: 2,
        x509.ReasonFlags.affiliation_changed: 3,
        x509.ReasonFlags.superseded: 4,
        x509.ReasonFlags.cessation_of_operation: 5,
        x509.ReasonFlags.privilege_withdrawn: 9,
        x509.ReasonFlags.aa_compromise: 10,
    }[flag]


def _tbs(der: bytes) -> bytes:
    return x509.load_der_x509_crl(der).tbs_certlist_bytes


def test_bytes_that_are_not_entries_are_refused():
    with pytest.raises(ValueError, match="expected tag"):
        list(EncodedEntries(b"\x04\x00", 1))
