"""CRLs signed from the SQLite store's kept entries (issue 17, point 3): a few thousand
revocations with every reason, parsed back with cryptography and its signature checked;
certificates that expired leave the CRL."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509

from albca.ca.clock import FixedClock, to_epoch
from albca.ca.records import AuditEvent, RevocationReason
from tests.authorities import build_authority
from tests.factories import T0, issue_event, make_record

REASON_FLAGS = {
    x509.ReasonFlags.key_compromise: RevocationReason.KEY_COMPROMISE,
    x509.ReasonFlags.ca_compromise: RevocationReason.CA_COMPROMISE,
    x509.ReasonFlags.affiliation_changed: RevocationReason.AFFILIATION_CHANGED,
    x509.ReasonFlags.superseded: RevocationReason.SUPERSEDED,
    x509.ReasonFlags.cessation_of_operation: RevocationReason.CESSATION_OF_OPERATION,
    x509.ReasonFlags.privilege_withdrawn: RevocationReason.PRIVILEGE_WITHDRAWN,
    x509.ReasonFlags.aa_compromise: RevocationReason.AA_COMPROMISE,
}
COUNT = 3_000


def _read(crl: x509.CertificateRevocationList) -> dict[int, tuple[int, RevocationReason]]:
    listed = {}
    for revoked in crl:
        try:
            flag = revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason
            reason = REASON_FLAGS[flag]
        except x509.ExtensionNotFound:
            reason = RevocationReason.UNSPECIFIED  # left out on purpose (RFC 5280 5.3.1)
        listed[revoked.serial_number] = (int(revoked.revocation_date_utc.timestamp()), reason)
    return listed


def test_a_crl_of_thousands_of_stored_entries_parses_back_and_drops_the_expired(tmp_path):
    clock = FixedClock(T0)
    authority = build_authority(tmp_path, clock=clock)
    store = authority.store
    issuer = authority.issuer()
    reasons = list(RevocationReason)
    expected: dict[int, tuple[int, RevocationReason]] = {}
    expiring: set[int] = set()
    records = []
    for index in range(COUNT):
        serial = 0x1000 + index * 0x10001  # 3 to 5 octets, some with the top bit set
        # Every third expires after the first CRL and before the second.
        days = 3 if index % 3 == 0 else 60
        records.append(
            make_record(serial, issuer_key_id=issuer.key_id, not_after=T0 + timedelta(days=days))
        )
        if index % 3 == 0:
            expiring.add(serial)
    for start in range(0, COUNT, store.batch_limit):
        batch = records[start : start + store.batch_limit]
        store.add_certificates([(record, issue_event(record)) for record in batch])
    for index, record in enumerate(records):
        if index % 7 == 6:
            continue  # not revoked
        reason = reasons[index % len(reasons)]
        revoked_at = T0 + timedelta(minutes=index)
        event = AuditEvent(at=revoked_at, action="revoke", actor="test", serial=record.serial)
        store.revoke_certificate(record.serial, revoked_at, reason, event)
        expected[record.serial] = (to_epoch(revoked_at), reason)
    clock.advance(timedelta(days=1))

    first = authority.generate_crl(requested_by="test")
    crl = x509.load_der_x509_crl(first.der)
    assert crl.is_signature_valid(issuer.certificate.public_key())
    assert x509.load_pem_x509_crl(first.pem).tbs_certlist_bytes == crl.tbs_certlist_bytes
    assert _read(crl) == expected
    assert first.entries == len(expected) > 2_500
    assert {reason for _, reason in expected.values()} == set(reasons)

    clock.advance(timedelta(days=3))  # past the not_after of every third certificate
    second = authority.generate_crl(requested_by="test")
    crl = x509.load_der_x509_crl(second.der)
    assert crl.is_signature_valid(issuer.certificate.public_key())
    assert second.number > first.number
    assert _read(crl) == {s: e for s, e in expected.items() if s not in expiring}
    store.close()
