"""Issue 12, point 1: CRL numbers and contents agree, with revokers and CRL signers racing.

SQLite: real processes (more than the machine's cores) over one file. DynamoDB: threads,
each with its own store (as Lambda instances would hold), under moto.
"""

from __future__ import annotations

import threading

import pytest

from albca.ca.authority import Authority, AuthorityConfig
from albca.ca.names import RequestedNames
from albca.ca.profiles import default_profiles
from albca.ca.records import RevocationReason
from albca.ca.stores.dynamodb import DynamoDBStore
from tests.authorities import build_authority
from tests.aws.lagging_index import lagging_indexes
from tests.aws.moto_support import REGION
from tests.races import crl_order_race, listed_serials, out_of_order


def test_a_higher_numbered_crl_lists_every_revocation_a_lower_one_listed_sqlite(tmp_path):
    # 3 revokers and 4 CRL signers on 2 cores; before the fix, 1 to 13 of 240 CRLs in a
    # round lacked a revocation a lower-numbered one listed. Two rounds, a few seconds.
    for round in range(2):
        figures = crl_order_race(
            tmp_path / f"home-{round}", revokers=3, signers=4, revocations=100, crls=60
        )
        assert figures.checked == 240
        assert figures.out_of_order == 0, figures


@pytest.fixture
def lagging(dynamodb_table):
    with lagging_indexes(lag=5.0, miss=0.5) as state:
        yield state


def _dynamodb_authority(table: str, signers: dict) -> Authority:
    # One store each, as Lambda instances hold.
    return Authority(
        store=DynamoDBStore(table, region=REGION),
        config=AuthorityConfig(profiles=default_profiles()),
        resolve_signer=signers.__getitem__,
    )


def _issued(table: str, tmp_path, count: int) -> tuple[dict, list[int]]:
    signers: dict = {}
    first = build_authority(tmp_path, signers=signers, store=DynamoDBStore(table, region=REGION))
    serials = [
        first.issue_with_new_key(
            profile="client", names=RequestedNames.of(common_name=f"c{n}"), requested_by="t"
        ).record.serial
        for n in range(count)
    ]
    return signers, serials


def test_a_higher_numbered_crl_lists_every_revocation_a_lower_one_listed_dynamodb(
    dynamodb_table, lagging, tmp_path
):
    signers, serials = _issued(dynamodb_table, tmp_path, 20)
    signed: list[tuple[int, frozenset[int]]] = []
    lock = threading.Lock()
    start = threading.Barrier(5)

    def revoke(mine: list[int]) -> None:
        revoker = _dynamodb_authority(dynamodb_table, signers)
        start.wait()
        for serial in mine:
            revoker.revoke(serial, RevocationReason.SUPERSEDED, requested_by="t")

    def sign() -> None:
        signer = _dynamodb_authority(dynamodb_table, signers)
        start.wait()
        for _ in range(8):
            document = signer.generate_crl(requested_by="t")
            with lock:
                signed.append((document.number, listed_serials(document.der)))

    threads = [threading.Thread(target=revoke, args=(serials[i::2],)) for i in range(2)]
    threads += [threading.Thread(target=sign) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    figures = out_of_order(signed)
    assert figures.checked == 24
    assert figures.out_of_order == 0, figures
    last = _dynamodb_authority(dynamodb_table, signers).generate_crl(requested_by="t")
    assert listed_serials(last.der) == frozenset(serials)


def test_the_crl_signed_right_after_a_revocation_lists_it_dynamodb(
    dynamodb_table, lagging, tmp_path
):
    # Issue 12, point 3: the index has not caught up with the revocation yet.
    signers, serials = _issued(dynamodb_table, tmp_path, 10)
    authority = _dynamodb_authority(dynamodb_table, signers)
    missing = []
    for serial in serials:
        authority.revoke(serial, RevocationReason.KEY_COMPROMISE, requested_by="t")
        if serial not in listed_serials(authority.generate_crl(requested_by="t").der):
            missing.append(serial)
    assert lagging.hidden > 0  # the double did hide fresh revocations from the index
    assert missing == []
