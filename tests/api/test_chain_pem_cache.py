"""The answer's ``chain_pem`` is kept per chain (``issuing._chain_pem``): each answer still
carries the chain of the CA that signed it, when several CAs answer in one process."""

from __future__ import annotations

from albca.api.issuing import _chain_pem
from albca.ca.authority import IssueRequest
from albca.ca.csr import parse_csr
from albca.ca.issued import IssuedCertificate
from tests.authorities import build_authority
from tests.factories import ec_key, make_csr


def issued_by(authority):
    parsed = parse_csr(make_csr(ec_key(), common_name="a.svc.internal"))
    return authority.issue(
        IssueRequest(
            profile="client", public_key=parsed.public_key, names=parsed.names, requested_by="t"
        )
    )


def test_each_answer_carries_the_chain_of_the_ca_that_signed_it(tmp_path):
    first = build_authority(tmp_path / "first", name="First")
    second = build_authority(tmp_path / "second", name="Second")
    answers = [issued_by(first), issued_by(second), issued_by(first), issued_by(second)]
    chains = [_chain_pem(issued) for issued in answers]
    assert chains == [issued.chain_pem.decode() for issued in answers]
    assert chains[0] != chains[1]
    assert "BEGIN CERTIFICATE" in chains[0]


def test_the_leaves_of_one_ca_share_one_chain_and_a_replay_gets_the_same_text(tmp_path):
    authority = build_authority(tmp_path / "ca", name="Only")
    first, second = issued_by(authority), issued_by(authority)
    assert first.chain is second.chain  # what lets ``_chain_pem`` find it by identity
    replayed = IssuedCertificate(
        record=second.record,
        certificate=second.certificate,
        chain=authority.chain_for(second.record.issuer_key_id),  # a new, equal tuple
    )
    assert replayed.chain is not first.chain
    assert _chain_pem(first) == _chain_pem(replayed) == first.chain_pem.decode()
