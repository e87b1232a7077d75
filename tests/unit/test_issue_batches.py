"""``Authority.issue_batches``: many certificates, one transaction per batch."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509

from albca.ca.authority import Authority, IssueRequest
from albca.ca.errors import CertificateNotFound, DuplicateSerial, PolicyViolation, StoreUnavailable
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.policy import NamePolicy
from albca.ca.records import AuditEvent, CertificateQuery, CertificateRecord
from tests.factories import ec_key
from tests.unit.ca_fixtures import authority_over


def requests(count: int, **overrides: Any) -> list[IssueRequest]:
    return [
        IssueRequest(
            profile="server",
            public_key=ec_key().public_key(),
            names=RequestedNames.of(common_name=f"h{i}", dns_names=[f"h{i}.svc.internal"]),
            requested_by="batch",
            **overrides,
        )
        for i in range(count)
    ]


def issued_serials(authority: Authority) -> set[int]:
    page = authority.list_certificates(CertificateQuery(limit=1000))
    return {record.serial for record in page.records}


class BatchStore:
    """The real SQLite store with a small batch limit, counting transactions and failing
    the transactions it is told to."""

    def __init__(
        self,
        inner: Any,
        *,
        batch_limit: int,
        failures: dict[int, Exception],
        batch_bytes: int = 2**20,
    ) -> None:
        self._inner = inner
        self.batch_limit = batch_limit
        self.batch_bytes = batch_bytes
        self._failures = failures  # transaction number (from 1) -> error
        self.transactions: list[list[int]] = []

    def add_certificates(self, entries: list[tuple[CertificateRecord, AuditEvent]]) -> None:
        self.transactions.append([record.serial for record, _ in entries])
        failure = self._failures.get(len(self.transactions))
        if failure is not None:
            raise failure
        self._inner.add_certificates(entries)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def batch_authority(
    make_authority, hierarchies, *, batch_limit=3, failures=None, batch_bytes=2**20
):
    base = make_authority(KeySpec.EC_P256)
    store = BatchStore(
        base.store, batch_limit=batch_limit, failures=failures or {}, batch_bytes=batch_bytes
    )
    return authority_over(base, store, hierarchies), store


def test_every_certificate_is_issued_in_batches_of_the_store_limit(make_authority, hierarchies):
    authority, store = batch_authority(make_authority, hierarchies, batch_limit=3)
    batches = list(authority.issue_batches(requests(7)))
    assert [len(batch) for batch in batches] == [3, 3, 1]
    assert [len(serials) for serials in store.transactions] == [3, 3, 1]
    issued = [certificate for batch in batches for certificate in batch]
    assert issued_serials(authority) == {c.serial for c in issued}
    issuer = authority.issuer().certificate
    for number, certificate in enumerate(issued):
        assert certificate.record == authority.get(certificate.serial)
        assert certificate.certificate.subject.rfc4514_string() == f"CN=h{number}"
        certificate.certificate.verify_directly_issued_by(issuer)
        (event,) = authority.audit(serial=certificate.serial)
        assert (event.action, event.actor) == ("issue", "batch")


def test_batches_also_stay_under_the_store_s_byte_limit(make_authority, hierarchies):
    # DynamoDB takes 4 MB a transaction: certificates with long SAN lists fill a batch
    # long before 50 of them do.
    authority, store = batch_authority(
        make_authority, hierarchies, batch_limit=50, batch_bytes=12_000
    )
    many_names = [
        IssueRequest(
            profile="server",
            public_key=ec_key().public_key(),
            names=RequestedNames.of(
                dns_names=[f"host-{i}-{j}.{'x' * 30}.svc.internal" for j in range(40)]
            ),
            requested_by="batch",
        )
        for i in range(6)
    ]
    batches = list(authority.issue_batches(many_names))
    assert sum(len(batch) for batch in batches) == 6
    assert len(store.transactions) == len(batches) > 1
    for batch in batches:
        weight = sum(
            len(issued.record.certificate_pem) + 2 * sum(map(len, issued.record.dns_names))
            for issued in batch
        )
        assert weight <= 12_000


def test_a_refused_request_issues_nothing(make_authority, hierarchies):
    authority, store = batch_authority(make_authority, hierarchies)
    batch = requests(4)
    batch[2] = IssueRequest(
        profile="server",
        public_key=ec_key().public_key(),
        names=RequestedNames.of(dns_names=["db.prod.internal"]),
        requested_by="batch",
    )
    with pytest.raises(PolicyViolation, match=r"db\.prod\.internal"):
        list(
            authority.issue_batches(
                batch, caller_policy=NamePolicy.build(dns=["*.svc.internal"], common_names=["*"])
            )
        )
    assert store.transactions == []
    assert issued_serials(authority) == set()


def test_a_failed_batch_leaves_the_committed_ones_and_records_nothing_of_itself(
    make_authority, hierarchies
):
    authority, store = batch_authority(
        make_authority, hierarchies, failures={2: StoreUnavailable("disk full")}
    )
    delivered: list[x509.Certificate] = []

    def take_all() -> None:
        for batch in authority.issue_batches(requests(7)):
            delivered.extend(issued.certificate for issued in batch)

    with pytest.raises(StoreUnavailable, match="disk full"):
        take_all()
    assert len(delivered) == 3
    assert issued_serials(authority) == {c.serial_number for c in delivered}
    for serial in store.transactions[1]:
        with pytest.raises(CertificateNotFound):
            authority.get(serial)
        assert authority.audit(serial=serial) == []


def test_a_duplicate_serial_re_signs_the_batch_with_new_serials(make_authority, hierarchies):
    authority, store = batch_authority(
        make_authority, hierarchies, failures={1: DuplicateSerial(1)}
    )
    (batch,) = authority.issue_batches(requests(3))
    rejected, accepted = store.transactions
    assert not set(rejected) & set(accepted)
    assert [issued.serial for issued in batch] == accepted
    assert issued_serials(authority) == set(accepted)


def test_chosen_serials_are_refused(make_authority, hierarchies):
    authority, _ = batch_authority(make_authority, hierarchies)
    with pytest.raises(ValueError, match="picks serials itself"):
        list(authority.issue_batches(requests(2, serial=5)))
