"""CA rotation, end to end with real TLS on 127.0.0.1.

The server does what an ALB in verify mode does, with exactly what the emulated trust store
loaded: the bundle at the S3 version the store holds and the CRLs at the versions it holds
(moto S3, the ELBv2 fake behind a real boto3 client). Certificates of the old and of the
new CA must both pass during the overlap; after retirement (or a rollback) the ones the new
bundle no longer covers must fail.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509

from albca.ca.errors import AuthorityInUse
from albca.ca.hierarchy import certificate_of
from albca.ca.issued import IssuedCertificate
from albca.ca.names import RequestedNames
from albca.ca.records import AuthorityRole, AuthorityStatus, RevocationReason
from albca.mtls_probe import MTLSServer, client_context, connect, server_context
from albca.trust_bundle.rotation import Rotation
from tests.authorities import memory_key_source
from tests.tls.conftest import Credentials, write_credentials


@pytest.fixture
def fake_settings(every_fake_setting):
    """Each test here runs under every answer AWS might give where it documents none
    (tests/aws/conftest.py, ``FAKE_SETTINGS``)."""
    return every_fake_setting


class Loaded:
    """What trust store ``name`` holds, written to files the TLS server loads."""

    def __init__(self, directory: Path, s3, trust_fake, trust_api, name: str) -> None:
        self.directory = directory
        self.s3, self.fake, self.api, self.name = s3, trust_fake, trust_api, name

    def _read(self, location) -> bytes:
        body: bytes = self.s3.get_object(
            Bucket=location.bucket, Key=location.key, VersionId=location.version_id
        )["Body"].read()
        return body

    def crls(self) -> list[x509.CertificateRevocationList]:
        arn = self.api.get(self.name).arn
        return [
            x509.load_pem_x509_crl(self._read(location))
            for location in self.fake.revocation_locations(arn).values()
        ]

    def files(self) -> tuple[Path, Path]:
        arn = self.api.get(self.name).arn
        bundle = self.directory / "loaded-bundle.pem"
        bundle.write_bytes(self._read(self.fake.bundle_location(arn)))
        crls = self.directory / "loaded-crls.pem"
        crls.write_bytes(
            b"".join(self._read(loc) for loc in self.fake.revocation_locations(arn).values())
        )
        return bundle, crls


@dataclass(frozen=True)
class Client:
    issued: IssuedCertificate
    chain: Credentials  # sends its issuing CA along, as `albca issue` files do
    leaf: Credentials  # sends only itself: the trust store alone decides


def issue(authority, directory, name) -> Client:
    issued = authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name=name), requested_by="test"
    )
    leaf = directory / f"{name}.leaf.pem"
    leaf.write_bytes(issued.certificate_pem)
    chain = write_credentials(directory, name, issued)
    return Client(issued, chain, Credentials(fullchain=leaf, key=chain.key))


def server_of(authority, directory) -> Credentials:
    issued = authority.issue_with_new_key(
        profile="server",
        names=RequestedNames.of(dns_names=["localhost"], ip_addresses=["127.0.0.1"]),
        requested_by="test",
    )
    return write_credentials(directory, "server", issued)


def connects(loaded: Loaded, server, client: Credentials, *, whole_chain=False):
    """(accepted, server's reason). ``whole_chain``: the server checks a CRL for every CA
    of the chain (OpenSSL's CRL_CHECK_ALL, as nginx's ssl_crl does), not only the leaf's."""
    bundle, crls = loaded.files()
    context = server_context(
        certificate_chain=server.fullchain, private_key=server.key, ca_bundle=bundle, crl=crls
    )
    if whole_chain:
        context.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN
    client_side = client_context(
        ca_bundle=bundle, certificate_chain=client.fullchain, private_key=client.key
    )
    with MTLSServer(context) as server_end:
        client_view = connect(server_end.port, client_side, server_hostname="localhost")
        server_view = server_end.next_outcome()
    return server_view.accepted and client_view.accepted, server_view.detail


def root_revokes(loaded: Loaded, authority, issuing) -> bool:
    """The store holds a CRL of the root, signed by it, revoking ``issuing``'s certificate
    for cessationOfOperation."""
    root = certificate_of(
        next(r for r in authority.authorities() if r.key_id == issuing.parent_key_id)
    )
    revoked = certificate_of(issuing).serial_number
    for crl in loaded.crls():
        if crl.issuer == root.subject and crl.is_signature_valid(root.public_key()):
            entry = crl.get_revoked_certificate_by_serial_number(revoked)
            if entry is None:
                return False
            reason = entry.extensions.get_extension_for_class(x509.CRLReason).value.reason
            return reason is x509.ReasonFlags.cessation_of_operation
    return False


def accepted_every_way(loaded, server, client: Client) -> bool:
    return all(
        connects(loaded, server, credentials, whole_chain=whole)[0]
        for credentials in (client.chain, client.leaf)
        for whole in (False, True)
    )


@pytest.fixture
def loaded(tmp_path, manager, s3, trust_fake, trust_api):
    manager.create("mtls", actor="test")
    return Loaded(tmp_path, s3, trust_fake, trust_api, "mtls")


@pytest.fixture
def rotation(authority, ca_signers, manager):
    return Rotation(authority=authority, new_key=memory_key_source(ca_signers), distributor=manager)


def test_issuing_rotation_overlap_then_retirement(authority, rotation, manager, loaded, tmp_path):
    old_issuing = authority.active_issuer_record()
    old_server = server_of(authority, tmp_path / "old")
    alice, carol = issue(authority, tmp_path, "alice"), issue(authority, tmp_path, "carol")
    assert accepted_every_way(loaded, old_server, alice)

    result = rotation.rotate_issuing(actor="test")
    assert result.previous.key_id == old_issuing.key_id
    new_issuing = authority.active_issuer_record()
    assert new_issuing.key_id == result.current.key_id != old_issuing.key_id
    bob = issue(authority, tmp_path, "bob")
    assert bob.issued.record.issuer_key_id == new_issuing.key_id
    server = server_of(authority, tmp_path)

    # The overlap: both generations pass, against what the trust store loaded.
    for client in (alice, bob, carol):
        assert accepted_every_way(loaded, server, client), client.issued.record.subject
    # The old issuing CA still gets CRLs: revoking one of its certificates takes effect.
    authority.revoke(alice.issued.serial, RevocationReason.KEY_COMPROMISE, requested_by="test")
    manager.revocation_sync().run(actor="test")
    assert connects(loaded, server, alice.chain) == (False, "certificate revoked")
    assert accepted_every_way(loaded, server, bob)

    # Retirement is refused while carol's and the old server's certificates are valid...
    with pytest.raises(AuthorityInUse) as caught:
        rotation.retire(old_issuing.key_id, actor="test")
    assert caught.value.valid_certificates == 2
    assert "2 certificate(s)" in caught.value.message
    # ...and forced, says how many stop working.
    retired = rotation.retire(old_issuing.key_id, actor="test", force=True)
    assert retired.valid_certificates == 2
    # Carol's certificate now fails: on its own, no CA of the bundle issued it...
    assert connects(loaded, server, carol.leaf) == (
        False,
        "unable to get local issuer certificate",
    )
    # ...and sent with the retired CA's certificate (which still chains to the root), no
    # CRL of the retired CA is left to check it against...
    assert connects(loaded, server, carol.chain) == (False, "unable to get certificate CRL")
    # ...and the root's CRL in the store says the retired CA is revoked, for verifiers that
    # check the CRLs they have and skip CAs without one.
    assert root_revokes(loaded, authority, old_issuing)
    assert accepted_every_way(loaded, server, bob)
    view = manager.show("mtls")
    assert old_issuing.key_id not in {issuer for _, issuer in view.revocations}
    assert view.store.ca_certificates == 2


def test_retirement_without_force_once_every_old_certificate_is_gone(
    authority, rotation, loaded, tmp_path
):
    old_issuing = authority.active_issuer_record()
    old = issue(authority, tmp_path, "old")
    rotation.rotate_issuing(actor="test")
    authority.revoke(old.issued.serial, RevocationReason.SUPERSEDED, requested_by="test")
    retired = rotation.retire(old_issuing.key_id, actor="test")
    assert retired.valid_certificates == 0
    assert retired.record.status is AuthorityStatus.RETIRED
    server = server_of(authority, tmp_path)
    assert not connects(loaded, server, old.leaf)[0]
    assert not connects(loaded, server, old.chain, whole_chain=True)[0]
    assert root_revokes(loaded, authority, old_issuing)


def test_root_rotation_overlap(authority, rotation, manager, loaded, tmp_path, trust_api):
    old_root = next(r for r in authority.authorities() if r.role is AuthorityRole.ROOT)
    alice = issue(authority, tmp_path, "alice")

    staged = rotation.rotate_root(actor="test", stop_after_root=True)
    assert not staged.finished
    # The new root is in the bundle the store holds before anything chains to it.
    assert trust_api.get("mtls").ca_certificates == 3
    assert authority.active_issuer_record().parent_key_id == old_root.key_id

    result = rotation.rotate_root(actor="test")  # resumes with the staged root
    assert result.finished
    assert result.current.key_id == staged.current.key_id
    new_issuing = authority.active_issuer_record()
    assert new_issuing.parent_key_id == staged.current.key_id
    bob = issue(authority, tmp_path, "bob")
    server = server_of(authority, tmp_path)
    for client in (alice, bob):
        assert accepted_every_way(loaded, server, client), client.issued.record.subject
    assert trust_api.get("mtls").ca_certificates == 4


def test_rollback_puts_the_stores_back_on_the_previous_bundle(
    authority, rotation, manager, loaded, tmp_path, trust_fake, trust_api
):
    arn = trust_api.get("mtls").arn
    before = trust_fake.bundle_location(arn).version_id
    old_issuing = authority.active_issuer_record()
    alice = issue(authority, tmp_path, "alice")
    rotation.rotate_issuing(actor="test")
    bob = issue(authority, tmp_path, "bob")
    after = trust_fake.bundle_location(arn).version_id
    assert after != before

    # Refused while the active issuing CA would drop out of the stores' bundle...
    with pytest.raises(AuthorityInUse, match="albca ca activate"):
        manager.rollback(actor="test")
    # ...so switch back to the old issuing CA first, then roll back.
    rotation.activate(old_issuing.key_id, actor="test")
    result = manager.rollback(actor="test")
    assert trust_fake.bundle_location(arn).version_id == before
    ((name, moved_from, moved_to),) = result.moves
    assert (name, moved_from.version_id, moved_to.version_id) == ("mtls", after, before)
    assert result.certificates_refused == 1  # bob's
    server = server_of(authority, tmp_path)
    assert accepted_every_way(loaded, server, alice)
    assert connects(loaded, server, bob.leaf) == (False, "unable to get local issuer certificate")
    assert not connects(loaded, server, bob.chain)[0]
    # The store holds a CRL for each CA of the rolled-back bundle, and only those.
    root = next(r for r in authority.authorities() if r.role is AuthorityRole.ROOT)
    revoked_by = {issuer for _, issuer in manager.show("mtls").revocations}
    assert revoked_by == {old_issuing.key_id, root.key_id}
