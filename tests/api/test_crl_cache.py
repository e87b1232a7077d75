"""The served CRL (api.crl_cache) with two workers over one store, as `serve --workers 2`."""

from __future__ import annotations

from datetime import timedelta

from cryptography import x509

from albca.api.crl_cache import CrlCache
from albca.ca.authority import Authority
from albca.ca.names import RequestedNames
from albca.ca.records import RevocationReason
from albca.ca.stores.sqlite import SqliteStore
from tests.authorities import build_authority


def _workers(tmp_path, refresh=timedelta(minutes=1)):
    signers: dict = {}
    first = build_authority(tmp_path / "ca", signers=signers)
    second = Authority(
        store=SqliteStore(first.store.path),
        config=first.config,
        resolve_signer=signers.__getitem__,
    )
    return first, [CrlCache(first, refresh=refresh), CrlCache(second, refresh=refresh)]


def _signed(authority: Authority) -> int:
    return sum(1 for e in authority.audit(limit=1000) if e.action == "crl")


def test_both_workers_serve_a_revocation_at_once_and_numbers_never_go_down(tmp_path):
    authority, workers = _workers(tmp_path)
    numbers = [worker.current().number for worker in workers]
    for n in range(3):
        serial = authority.issue_with_new_key(
            profile="client", names=RequestedNames.of(common_name=f"c{n}"), requested_by="t"
        ).record.serial
        authority.revoke(serial, RevocationReason.KEY_COMPROMISE, requested_by="t")
        for worker in [*workers, *reversed(workers)]:
            document = worker.current()
            crl = x509.load_der_x509_crl(document.der)
            assert crl.get_revoked_certificate_by_serial_number(serial) is not None
            numbers.append(document.number)
    assert numbers == sorted(numbers)


def test_workers_share_one_crl_instead_of_signing_one_each_per_request(tmp_path):
    authority, workers = _workers(tmp_path)
    served = {worker.current().number for _ in range(5) for worker in workers}
    assert len(served) == 1
    assert _signed(authority) == 1


def test_a_crl_older_than_the_refresh_interval_is_signed_anew(tmp_path):
    _, workers = _workers(tmp_path, refresh=timedelta(0))
    first = workers[0].current().number
    assert workers[1].current().number > first
