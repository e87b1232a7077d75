"""The authority over a real SQLite file and a clock the tests move."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.ca.authority import Authority, AuthorityConfig
from albca.ca.errors import (
    AlreadyRevoked,
    CertificateNotFound,
    DuplicateSerial,
    PolicyViolation,
    StoreUnavailable,
)
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.policy import NamePolicy
from albca.ca.profiles import CertificateKind, Profile, ProfileSet
from albca.ca.records import (
    AuditEvent,
    CertificateQuery,
    CertificateRecord,
    CertificateStatus,
    EffectiveStatus,
    RevocationReason,
)
from albca.ca.stores.sqlite import SqliteStore
from tests.factories import make_csr
from tests.unit.assertions import extension, has_extension
from tests.unit.ca_fixtures import ISSUE_TIME, authority_over


def assert_record_matches_certificate(record: CertificateRecord, certificate: x509.Certificate):
    """The record says what the certificate says, field by field."""
    assert record.serial == certificate.serial_number
    assert record.subject == certificate.subject.rfc4514_string()
    common_names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    assert record.common_name == (common_names[0].value if common_names else None)
    if has_extension(certificate, x509.SubjectAlternativeName):
        san = extension(certificate, x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    else:
        dns, ips = (), ()
    assert record.dns_names == dns
    assert record.ip_addresses == ips
    assert record.not_before == certificate.not_valid_before_utc
    assert record.not_after == certificate.not_valid_after_utc
    aki = extension(certificate, x509.AuthorityKeyIdentifier).value.key_identifier
    assert aki is not None
    assert record.issuer_key_id == aki.hex()
    assert record.certificate_pem == certificate.public_bytes(serialization.Encoding.PEM).decode()


# -- issuing ----------------------------------------------------------------------------


def test_issue_from_csr_commits_a_record_equal_to_the_certificate(make_authority, key_pool):
    authority = make_authority()
    csr = make_csr(
        key_pool.leaf(KeySpec.EC_P256),
        common_name="alice",
        dns_names=("alice.example.com",),
        ip_addresses=("10.0.0.1",),
    )
    issued = authority.issue_from_csr(csr, profile="client", requested_by="ops@example.com")
    assert_record_matches_certificate(issued.record, issued.certificate)
    assert issued.record.profile == "client"
    assert issued.record.requested_by == "ops@example.com"
    assert issued.record.issued_at == ISSUE_TIME
    assert issued.record.status is CertificateStatus.VALID
    assert authority.get(issued.serial) == issued.record
    assert issued.certificate.public_key() == key_pool.leaf(KeySpec.EC_P256).public_key()


def test_issue_with_new_key_commits_a_record_and_returns_the_matching_key(make_authority):
    authority = make_authority()
    issued = authority.issue_with_new_key(
        profile="server",
        names=RequestedNames.of(dns_names=["api.example.com"], ip_addresses=["2001:db8::5"]),
        requested_by="ops",
        key_spec=KeySpec.EC_P384,
    )
    assert_record_matches_certificate(issued.record, issued.certificate)
    assert authority.get(issued.serial) == issued.record
    assert issued.private_key is not None
    assert issued.private_key.public_key() == issued.certificate.public_key()
    assert issued.certificate.public_key().curve.name == "secp384r1"
    key = serialization.load_pem_private_key(
        issued.private_key_pem(b"a passphrase!"), b"a passphrase!"
    )
    assert key.public_key() == issued.certificate.public_key()


def test_issuing_records_an_audit_event(make_authority):
    authority = make_authority()
    issued = authority.issue_from_csr(make_csr(), profile="client", requested_by="ops")
    (event,) = authority.audit(serial=issued.serial)
    assert (event.action, event.actor, event.at) == ("issue", "ops", ISSUE_TIME)
    assert event.detail["profile"] == "client"
    assert event.detail["issuer"] == issued.record.issuer_key_id


def test_names_come_from_the_csr_by_default(make_authority):
    authority = make_authority()
    csr = make_csr(common_name="alice", dns_names=("alice.example.com",))
    issued = authority.issue_from_csr(csr, profile="client", requested_by="t")
    assert issued.record.common_name == "alice"
    assert issued.record.dns_names == ("alice.example.com",)


def test_names_given_with_the_csr_replace_the_csr_names(make_authority):
    authority = make_authority()
    csr = make_csr(common_name="alice", dns_names=("alice.example.com",))
    issued = authority.issue_from_csr(
        csr,
        profile="client",
        requested_by="t",
        names=RequestedNames.of(common_name="bob"),
    )
    assert issued.certificate.subject.rfc4514_string() == "CN=bob"
    assert not has_extension(issued.certificate, x509.SubjectAlternativeName)
    assert_record_matches_certificate(issued.record, issued.certificate)


def confined_profile_config() -> AuthorityConfig:
    return AuthorityConfig(
        profiles=ProfileSet.of(
            [
                Profile(
                    name="server",
                    kind=CertificateKind.SERVER,
                    max_lifetime=timedelta(days=90),
                    default_lifetime=timedelta(days=30),
                    key_specs=frozenset(KeySpec),
                    names=NamePolicy.build(
                        dns=["**.example.com"], ip_networks=["10.0.0.0/8"], name="profile"
                    ),
                )
            ]
        )
    )


CALLER = NamePolicy.build(
    dns=["**.team.example.com", "**.team.example.org"],
    ip_networks=["10.1.0.0/16", "192.168.0.0/16"],
    name="caller",
)


@pytest.mark.parametrize(
    ("names", "refused_by"),
    [
        ({"dns_names": ["a.team.example.com"], "ip_addresses": ["10.1.2.3"]}, None),
        ({"dns_names": ["a.other.example.com"]}, "caller.dns"),  # profile yes, caller no
        ({"dns_names": ["a.team.example.org"]}, "profile.dns"),  # caller yes, profile no
        ({"dns_names": ["a.team.example.com"], "ip_addresses": ["10.2.0.1"]}, "caller.ip_networks"),
        (
            {"dns_names": ["a.team.example.com"], "ip_addresses": ["192.168.1.1"]},
            "profile.ip_networks",
        ),
    ],
    ids=[
        "both-allow",
        "caller-refuses-dns",
        "profile-refuses-dns",
        "caller-refuses-ip",
        "profile-refuses-ip",
    ],
)
def test_caller_policy_narrows_the_profile_policy(make_authority, names, refused_by):
    authority = make_authority(config=confined_profile_config())
    requested = RequestedNames.of(**names)
    if refused_by is None:
        issued = authority.issue_with_new_key(
            profile="server", names=requested, requested_by="t", caller_policy=CALLER
        )
        assert issued.record.dns_names == requested.dns_names
        return
    with pytest.raises(PolicyViolation) as caught:
        authority.issue_from_csr(
            make_csr(common_name=None, **{k: tuple(v) for k, v in names.items()}),
            profile="server",
            requested_by="t",
            caller_policy=CALLER,
        )
    assert caught.value.rule == refused_by
    assert authority.list_certificates(CertificateQuery()).records == ()


# -- the store refusing -----------------------------------------------------------------


class FlakyStore:
    """A store double: the real SQLite store, except that ``add_certificate`` first raises
    the errors it is given, one per call, and remembers the serials it was offered."""

    def __init__(self, inner: SqliteStore, failures: list[Exception]) -> None:
        self._inner = inner
        self._failures = list(failures)
        self.offered: list[int] = []

    def add_certificate(self, record: CertificateRecord, event: AuditEvent) -> None:
        self.offered.append(record.serial)
        if self._failures:
            raise self._failures.pop(0)
        self._inner.add_certificate(record, event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def flaky_authority(make_authority, hierarchies, failures) -> tuple[Authority, FlakyStore]:
    base = make_authority(KeySpec.EC_P256)
    store = FlakyStore(base.store, failures)
    return authority_over(base, store, hierarchies), store


def test_a_store_that_cannot_commit_means_no_certificate(make_authority, hierarchies):
    authority, store = flaky_authority(
        make_authority, hierarchies, [StoreUnavailable("database is locked")]
    )
    with pytest.raises(StoreUnavailable, match="database is locked"):
        authority.issue_from_csr(make_csr(), profile="client", requested_by="t")
    assert len(store.offered) == 1
    with pytest.raises(CertificateNotFound):
        authority.get(store.offered[0])
    assert authority.list_certificates(CertificateQuery()).records == ()
    assert authority.audit(serial=store.offered[0]) == []


def test_a_duplicate_serial_is_retried_with_a_new_serial(make_authority, hierarchies):
    first = DuplicateSerial(0)
    authority, store = flaky_authority(make_authority, hierarchies, [first])
    issued = authority.issue_from_csr(make_csr(), profile="client", requested_by="t")
    assert len(store.offered) == 2
    rejected, accepted = store.offered
    assert accepted == issued.serial != rejected
    assert issued.certificate.serial_number == issued.serial
    assert authority.get(issued.serial) == issued.record
    with pytest.raises(CertificateNotFound):
        authority.get(rejected)
    assert [event.action for event in authority.audit()] == ["issue", "init", "init"]


def test_issue_gives_up_when_every_serial_is_a_duplicate(make_authority, hierarchies):
    authority, store = flaky_authority(make_authority, hierarchies, [DuplicateSerial(0)] * 3)
    with pytest.raises(StoreUnavailable, match="unused serial in 3 attempts"):
        authority.issue_from_csr(make_csr(), profile="client", requested_by="t")
    assert len(set(store.offered)) == 3
    assert authority.list_certificates(CertificateQuery()).records == ()


# -- revoking and CRLs ------------------------------------------------------------------


def issue_client(authority, name="alice", lifetime=None):
    return authority.issue_with_new_key(
        profile="client",
        names=RequestedNames.of(common_name=name),
        requested_by="t",
        lifetime=lifetime,
    )


def test_revoke_then_generate_crl_lists_the_serial_with_its_reason(make_authority, clock):
    authority = make_authority()
    kept, revoked = issue_client(authority, "kept"), issue_client(authority, "revoked")
    clock.advance(timedelta(hours=2))
    record = authority.revoke(revoked.serial, RevocationReason.KEY_COMPROMISE, requested_by="sec")
    assert record.status is CertificateStatus.REVOKED
    assert record.revoked_at == ISSUE_TIME + timedelta(hours=2)
    assert record.revocation_reason is RevocationReason.KEY_COMPROMISE
    assert authority.get(revoked.serial).effective_status(clock()) is EffectiveStatus.REVOKED

    document = authority.generate_crl(requested_by="t")
    crl = x509.load_der_x509_crl(document.der)
    assert crl.is_signature_valid(authority.issuer().certificate.public_key())
    assert crl.get_revoked_certificate_by_serial_number(kept.serial) is None
    entry = crl.get_revoked_certificate_by_serial_number(revoked.serial)
    assert entry is not None
    assert entry.revocation_date_utc == ISSUE_TIME + timedelta(hours=2)
    assert extension(entry, x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    assert crl.last_update_utc == clock()
    assert crl.next_update_utc == clock() + timedelta(days=7)


def test_revoking_twice_is_refused_and_recorded_once(make_authority):
    authority = make_authority()
    issued = issue_client(authority)
    authority.revoke(issued.serial, RevocationReason.SUPERSEDED, requested_by="t")
    with pytest.raises(AlreadyRevoked) as caught:
        authority.revoke(issued.serial, RevocationReason.KEY_COMPROMISE, requested_by="t")
    assert caught.value.serial == issued.serial
    assert authority.get(issued.serial).revocation_reason is RevocationReason.SUPERSEDED
    assert [e.action for e in authority.audit(serial=issued.serial)] == ["revoke", "issue"]


def test_revoking_an_unknown_serial_is_refused(make_authority):
    authority = make_authority()
    with pytest.raises(CertificateNotFound, match="no certificate with serial abc"):
        authority.revoke(0xABC, RevocationReason.UNSPECIFIED, requested_by="t")


def test_expired_revoked_certificates_leave_the_crl(make_authority, clock):
    authority = make_authority()
    short = issue_client(authority, "short", lifetime=timedelta(days=1))
    long = issue_client(authority, "long", lifetime=timedelta(days=30))
    for issued in (short, long):
        authority.revoke(issued.serial, RevocationReason.CESSATION_OF_OPERATION, requested_by="t")

    before = x509.load_der_x509_crl(authority.generate_crl(requested_by="t").der)
    assert {entry.serial_number for entry in before} == {short.serial, long.serial}

    clock.advance(timedelta(days=2))  # the short one has expired
    after = x509.load_der_x509_crl(authority.generate_crl(requested_by="t").der)
    assert {entry.serial_number for entry in after} == {long.serial}


def test_crl_numbers_increase_across_authorities_over_the_same_file(make_authority, tmp_path):
    first = make_authority()
    path = tmp_path / "albca-0.db"
    numbers = [first.generate_crl(requested_by="t").number for _ in range(2)]
    second = make_authority(path=path)  # another process, the same store file
    numbers.append(second.generate_crl(requested_by="t").number)
    numbers.append(first.generate_crl(requested_by="t").number)
    assert numbers == sorted(numbers)
    assert len(set(numbers)) == 4
    crl = x509.load_der_x509_crl(second.generate_crl(requested_by="t").der)
    assert extension(crl, x509.CRLNumber).value.crl_number > numbers[-1]


def test_generating_a_crl_is_audited(make_authority):
    authority = make_authority()
    issued = issue_client(authority)
    authority.revoke(issued.serial, RevocationReason.AFFILIATION_CHANGED, requested_by="t")
    document = authority.generate_crl(requested_by="cron")
    event = authority.audit(limit=1)[0]
    assert (event.action, event.actor) == ("crl", "cron")
    assert event.detail == {
        "issuer": document.issuer_key_id,
        "number": document.number,
        "entries": 1,
    }


# -- the hierarchy as relying parties see it -------------------------------------------


def test_trusted_certificates_are_the_root_then_the_issuing_ca(make_authority, hierarchies):
    authority = make_authority()
    ca = hierarchies.get(KeySpec.EC_P256)
    assert authority.trusted_certificates() == [ca.root, ca.issuing]
    assert authority.chain_for(ca.issuing_record.key_id) == (ca.issuing,)


def test_list_certificates_filters_by_effective_status(make_authority, clock):
    authority = make_authority()
    active = issue_client(authority, "active", lifetime=timedelta(days=30))
    expiring = issue_client(authority, "expiring", lifetime=timedelta(days=1))
    revoked = issue_client(authority, "revoked", lifetime=timedelta(days=30))
    authority.revoke(revoked.serial, RevocationReason.UNSPECIFIED, requested_by="t")
    clock.advance(timedelta(days=2))

    def serials(status):
        page = authority.list_certificates(CertificateQuery(status=status))
        return {record.serial for record in page.records}

    assert serials(EffectiveStatus.ACTIVE) == {active.serial}
    assert serials(EffectiveStatus.EXPIRED) == {expiring.serial}
    assert serials(EffectiveStatus.REVOKED) == {revoked.serial}
