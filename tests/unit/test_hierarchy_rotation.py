"""The CA hierarchy over time: new issuing CAs and roots, switching which one signs,
retiring, the CA's identity, and what `albca ca status` advises. No AWS here."""

from __future__ import annotations

from datetime import timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from albca.ca.authority import Authority, IssueRequest
from albca.ca.ca_status import ROTATION_MARGIN, authority_reports, rotation_due
from albca.ca.certificates import ca_subject
from albca.ca.clock import FixedClock, system_clock
from albca.ca.errors import AuthorityError, AuthorityInUse, InvalidName
from albca.ca.hierarchy import (
    ROOT_LIFETIME,
    activate_authority,
    ca_identity,
    certificate_of,
    create_issuing_ca,
    create_root_ca,
    retire_authority,
)
from albca.ca.keys import KeySpec, generate_private_key
from albca.ca.names import RequestedNames
from albca.ca.records import AuditEvent, AuthorityRole, AuthorityStatus, RevocationReason
from albca.ca.signer import PrivateKeySigner
from albca.ca.stores.sqlite import SqliteStore
from albca.trust_bundle.rotation import Rotation, successor_subject
from tests.authorities import build_authority, memory_key_source


@pytest.fixture
def clock():
    return FixedClock(system_clock())


@pytest.fixture
def signers():
    return {}


@pytest.fixture
def authority(tmp_path, clock, signers):
    return build_authority(tmp_path / "ca", clock=clock, signers=signers)


def root_of(authority):
    return next(r for r in authority.authorities() if r.role is AuthorityRole.ROOT)


def new_issuing(authority, signers, name="Issuing CA G2", lifetime=timedelta(days=365)):
    root = root_of(authority)
    location = f"mem:{name}"
    signers[location] = PrivateKeySigner(generate_private_key(KeySpec.EC_P384), location)
    return create_issuing_ca(
        store=authority.store,
        root=root,
        root_signer=authority.issuer(root.key_id).signer,
        issuing_signer=signers[location],
        subject=ca_subject(name),
        lifetime=lifetime,
        now=authority.now(),
        actor="test",
    )


def issue(authority, name="alice"):
    return authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name=name), requested_by="test"
    )


# -- creating ------------------------------------------------------------------------------


def test_a_new_issuing_ca_starts_in_standby_and_is_trusted(authority, signers):
    record = new_issuing(authority, signers)
    assert record.status is AuthorityStatus.STANDBY
    assert record.parent_key_id == root_of(authority).key_id
    certificate = certificate_of(record)
    certificate.verify_directly_issued_by(certificate_of(root_of(authority)))
    assert certificate in authority.trusted_certificates()
    assert authority.active_issuer_record().key_id != record.key_id  # not signing yet


def test_an_issuing_ca_never_outlives_its_root(authority, signers):
    record = new_issuing(authority, signers, lifetime=ROOT_LIFETIME * 2)
    root = certificate_of(root_of(authority))
    assert certificate_of(record).not_valid_after_utc == root.not_valid_after_utc


def test_a_second_ca_with_the_same_subject_is_refused(authority, signers):
    with pytest.raises(InvalidName, match="already has the subject"):
        new_issuing(authority, signers, name="Test Issuing CA")


def test_an_issuing_ca_is_made_under_a_root_only(authority, signers):
    issuing = authority.active_issuer_record()
    with pytest.raises(AuthorityError, match="not a root"):
        create_issuing_ca(
            store=authority.store,
            root=issuing,
            root_signer=authority.issuer().signer,
            issuing_signer=authority.issuer().signer,
            subject=ca_subject("Nested"),
            lifetime=timedelta(days=30),
            now=authority.now(),
            actor="test",
        )


def test_ca_identity_is_the_first_root_and_survives_a_root_rotation(authority, signers):
    first = root_of(authority).key_id
    assert ca_identity(authority.authorities()) == first
    signers["mem:root2"] = PrivateKeySigner(generate_private_key(KeySpec.EC_P256), "mem:root2")
    new_root = create_root_ca(
        store=authority.store,
        signer=signers["mem:root2"],
        subject=ca_subject("Root G2"),
        lifetime=ROOT_LIFETIME,
        now=authority.now(),
        actor="test",
    )
    activate_authority(
        store=authority.store, key_id=new_root.key_id, now=authority.now(), actor="t"
    )
    assert ca_identity(authority.authorities()) == first


# -- switching -----------------------------------------------------------------------------


def test_activating_switches_issuing_and_the_old_ca_goes_to_standby(authority, signers):
    old = authority.active_issuer_record()
    new = new_issuing(authority, signers)
    activate_authority(store=authority.store, key_id=new.key_id, now=authority.now(), actor="t")
    authority.forget_cached_issuers()
    statuses = {r.key_id: r.status for r in authority.authorities()}
    assert statuses[new.key_id] is AuthorityStatus.ACTIVE
    assert statuses[old.key_id] is AuthorityStatus.STANDBY
    assert issue(authority).record.issuer_key_id == new.key_id
    # The old one is still trusted and still gets CRLs.
    assert certificate_of(old) in authority.trusted_certificates()
    assert old.key_id in authority.issuing_key_ids()


def test_with_two_active_issuing_cas_the_newest_signs(authority, signers):
    new = new_issuing(authority, signers)
    authority.store.set_authority_status(
        new.key_id,
        AuthorityStatus.ACTIVE,
        AuditEvent(at=authority.now(), action="ca-activate", actor="t"),
    )
    authority.forget_cached_issuers()
    assert authority.active_issuer_record().key_id == new.key_id


def test_a_retired_ca_cannot_become_active_again(authority, signers):
    new = new_issuing(authority, signers)
    retire_authority(store=authority.store, key_id=new.key_id, now=authority.now(), actor="t")
    with pytest.raises(AuthorityError, match="retired"):
        activate_authority(store=authority.store, key_id=new.key_id, now=authority.now(), actor="t")


# -- retiring ------------------------------------------------------------------------------


def test_the_active_issuing_ca_cannot_be_retired(authority):
    active = authority.active_issuer_record()
    with pytest.raises(AuthorityInUse, match="rotate first"):
        retire_authority(
            store=authority.store, key_id=active.key_id, now=authority.now(), actor="t"
        )


def test_retiring_is_refused_while_certificates_are_valid_and_forced_says_how_many(
    authority, signers, clock
):
    old = authority.active_issuer_record()
    issue(authority, "a")
    issue(authority, "b")
    revoked = issue(authority, "c")
    authority.revoke(revoked.serial, RevocationReason.KEY_COMPROMISE, requested_by="t")
    new = new_issuing(authority, signers)
    activate_authority(store=authority.store, key_id=new.key_id, now=authority.now(), actor="t")
    with pytest.raises(AuthorityInUse) as caught:
        retire_authority(store=authority.store, key_id=old.key_id, now=authority.now(), actor="t")
    assert caught.value.valid_certificates == 2
    forced = retire_authority(
        store=authority.store, key_id=old.key_id, now=authority.now(), actor="t", force=True
    )
    assert forced.valid_certificates == 2
    assert certificate_of(old) not in authority.trusted_certificates()
    assert old.key_id not in authority.issuing_key_ids()


def test_retiring_needs_no_force_once_every_certificate_expired(authority, signers, clock):
    old = authority.active_issuer_record()
    issue(authority)
    new = new_issuing(authority, signers, lifetime=timedelta(days=3000))
    activate_authority(store=authority.store, key_id=new.key_id, now=authority.now(), actor="t")
    clock.advance(timedelta(days=400))  # past the client profile's longest lifetime
    retired = retire_authority(
        store=authority.store, key_id=old.key_id, now=authority.now(), actor="t"
    )
    assert retired.valid_certificates == 0


def test_a_root_is_retired_only_after_its_issuing_cas(authority):
    root = root_of(authority)
    signers = {"mem:r2": PrivateKeySigner(generate_private_key(KeySpec.EC_P256), "mem:r2")}
    new_root = create_root_ca(
        store=authority.store,
        signer=signers["mem:r2"],
        subject=ca_subject("Root G2"),
        lifetime=ROOT_LIFETIME,
        now=authority.now(),
        actor="t",
    )
    activate_authority(
        store=authority.store, key_id=new_root.key_id, now=authority.now(), actor="t"
    )
    with pytest.raises(AuthorityInUse, match="retire them first"):
        retire_authority(store=authority.store, key_id=root.key_id, now=authority.now(), actor="t")


def test_the_roots_crl_lists_a_retired_issuing_ca_as_ceased(authority, signers):
    old = authority.active_issuer_record()
    new = new_issuing(authority, signers)
    activate_authority(store=authority.store, key_id=new.key_id, now=authority.now(), actor="t")
    before = x509.load_der_x509_crl(
        authority.generate_crl(root_of(authority).key_id, requested_by="t").der
    )
    assert len(before) == 0
    retire_authority(store=authority.store, key_id=old.key_id, now=authority.now(), actor="t")
    crl = x509.load_der_x509_crl(
        authority.generate_crl(root_of(authority).key_id, requested_by="t").der
    )
    root = certificate_of(root_of(authority))
    assert crl.issuer == root.subject
    assert crl.is_signature_valid(root.public_key())
    entry = crl.get_revoked_certificate_by_serial_number(certificate_of(old).serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == authority.now()
    reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason is x509.ReasonFlags.cessation_of_operation
    assert authority.crl_issuer_key_ids(roots=False) == [new.key_id]
    assert root_of(authority).key_id in authority.crl_issuer_key_ids(roots=True)


# -- names, status, refusals ----------------------------------------------------------------


def test_successor_names_count_generations_and_keep_the_organization():
    current = ca_subject("Payments Issuing CA", "Example Corp")
    second = successor_subject(current, None, {current})
    assert second.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Payments Issuing CA G2"
    assert second.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Example Corp"
    third = successor_subject(second, None, {current, second})
    assert third.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Payments Issuing CA G3"
    named = successor_subject(current, "Payments 2027", {current})
    assert named.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Payments 2027"


def test_status_says_when_to_rotate_and_what_can_be_retired(authority, signers):
    issue(authority)
    reports = {
        r.record.key_id: r
        for r in authority_reports(authority.store, authority.profiles, authority.now())
    }
    active = reports[authority.active_issuer_record().key_id]
    longest = max(p.max_lifetime for p in authority.profiles.profiles)
    assert active.rotate_by == active.not_after - (longest + ROTATION_MARGIN)
    assert active.advice == f"rotate by {active.rotate_by.date().isoformat()}"
    assert (active.issued, active.valid) == (1, 1)
    assert active.record.key_location == "mem:issuing"
    root = reports[root_of(authority).key_id]
    assert (root.issued, root.valid) == (1, 1)

    old = authority.active_issuer_record()
    new = new_issuing(authority, signers)
    reports = {
        r.record.key_id: r
        for r in authority_reports(authority.store, authority.profiles, authority.now())
    }
    assert "a rotation is unfinished" in reports[new.key_id].advice
    activate_authority(store=authority.store, key_id=new.key_id, now=authority.now(), actor="t")
    reports = {
        r.record.key_id: r
        for r in authority_reports(authority.store, authority.profiles, authority.now())
    }
    assert reports[old.key_id].advice == "keep: 1 certificates still depend on it"
    assert reports[old.key_id].rotate_by is None


def test_status_says_rotate_now_near_the_end(authority, clock):
    assert not rotation_due(authority.store, authority.profiles, authority.now())
    clock.advance(timedelta(days=1826) - timedelta(days=100))
    reports = authority_reports(authority.store, authority.profiles, authority.now())
    issuing = next(r for r in reports if r.record.role is AuthorityRole.ISSUING)
    assert issuing.advice == "rotate now: `albca ca rotate`"
    # The cheap check maintenance makes every hour agrees, without counting certificates.
    assert rotation_due(authority.store, authority.profiles, authority.now())


def test_the_hourly_rotation_check_turns_due_at_rotate_by_exactly(authority, clock):
    reports = authority_reports(authority.store, authority.profiles, authority.now())
    rotate_by = min(r.rotate_by for r in reports if r.rotate_by is not None)
    before = rotate_by - timedelta(seconds=1)
    assert not rotation_due(authority.store, authority.profiles, before)
    assert rotation_due(authority.store, authority.profiles, rotate_by)


def test_rotation_under_a_root_too_close_to_its_end_says_rotate_the_root(authority, signers, clock):
    clock.advance(ROOT_LIFETIME - timedelta(days=200))  # 200 days < 397 + 30
    rotation = Rotation(authority=authority, new_key=memory_key_source(signers), distributor=None)
    with pytest.raises(AuthorityError, match=r"albca ca rotate --root"):
        rotation.rotate_issuing(actor="t")
    assert len(authority.authorities()) == 2  # nothing was created


def test_rotation_without_a_distributor_switches_and_can_change_the_key_type(authority, signers):
    rotation = Rotation(authority=authority, new_key=memory_key_source(signers), distributor=None)
    result = rotation.rotate_issuing(actor="t", key_spec=KeySpec.RSA_2048)
    assert result.finished
    assert result.distributed == 0
    issued = issue(authority)
    assert issued.record.issuer_key_id == result.current.key_id
    assert certificate_of(result.current).public_key().key_size == 2048
    assert any(e.action == "ca-rotate" for e in authority.audit())


def test_a_ca_retired_by_another_process_signs_nothing_from_then_on(authority, signers):
    # Issue 12, point 5: `albca ca retire --force` in one process while another (a running
    # `albca serve`) keeps issuing: the retirement is seen at the next signing.
    old = authority.active_issuer_record()
    assert issue(authority).record.issuer_key_id == old.key_id  # the server has signed
    other = Authority(
        store=SqliteStore(authority.store.path),
        config=authority.config,
        resolve_signer=signers.__getitem__,
        clock=authority.clock,
    )
    new = new_issuing(other, signers)
    activate_authority(store=other.store, key_id=new.key_id, now=other.now(), actor="cli")
    retire_authority(store=other.store, key_id=old.key_id, now=other.now(), actor="cli", force=True)
    assert issue(authority, "bob").record.issuer_key_id == new.key_id
    requests = [
        IssueRequest(
            profile="client",
            public_key=generate_private_key(KeySpec.EC_P256).public_key(),
            names=RequestedNames.of(common_name=f"batch{n}"),
            requested_by="test",
        )
        for n in range(3)
    ]
    batches = list(authority.issue_batches(requests))
    assert {issued.record.issuer_key_id for batch in batches for issued in batch} == {new.key_id}
    other.store.close()
