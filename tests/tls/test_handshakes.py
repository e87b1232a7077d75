"""End-to-end: certificates albca issues, used by Python's ssl (OpenSSL) on both ends.

The good case must pass and each bad case (wrong CA, wrong name, expired, revoked, no
client certificate) must fail, for every CA key type, over TLS 1.2 and TLS 1.3.
"""

from __future__ import annotations

import ssl
from datetime import timedelta

import pytest

from albca.ca.clock import FixedClock, system_clock
from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.records import RevocationReason
from albca.mtls_probe import MTLSServer, client_context, connect, server_context
from tests.authorities import build_authority
from tests.tls.conftest import write_bundle, write_credentials

CA_KEYS = [KeySpec.EC_P256, KeySpec.EC_P384, KeySpec.EC_P521, KeySpec.RSA_2048]


@pytest.fixture(scope="module", params=CA_KEYS, ids=str)
def authority(request, tmp_path_factory):
    return build_authority(
        tmp_path_factory.mktemp(f"ca-{request.param}"),
        root_key=request.param,
        issuing_key=request.param,
    )


@pytest.fixture(scope="module")
def other_authority(tmp_path_factory):
    return build_authority(tmp_path_factory.mktemp("other-ca"), name="Other")


def server_credentials(authority, directory, *, dns="localhost", key=KeySpec.EC_P256):
    issued = authority.issue_with_new_key(
        profile="server",
        names=RequestedNames.of(dns_names=[dns], ip_addresses=["127.0.0.1"]),
        requested_by="test",
        key_spec=key,
    )
    return write_credentials(directory, "server", issued)


def client_credentials(authority, directory, name="alice", *, key=KeySpec.EC_P256):
    issued = authority.issue_with_new_key(
        profile="client",
        names=RequestedNames.of(common_name=name),
        requested_by="test",
        key_spec=key,
    )
    return issued, write_credentials(directory, name, issued)


def handshake(workdir, bundle, server, client=None, *, crl=None, hostname="localhost", tls=None):
    """Run one connection; return (client outcome, server outcome)."""
    context = server_context(
        certificate_chain=server.fullchain, private_key=server.key, ca_bundle=bundle, crl=crl
    )
    if tls is not None:
        context.minimum_version = context.maximum_version = tls
    client_side = client_context(
        ca_bundle=bundle,
        certificate_chain=client.fullchain if client else None,
        private_key=client.key if client else None,
    )
    with MTLSServer(context) as server_end:
        outcome = connect(server_end.port, client_side, server_hostname=hostname)
        return outcome, server_end.next_outcome()


@pytest.mark.parametrize("tls", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=str)
@pytest.mark.parametrize("leaf_key", [KeySpec.EC_P256, KeySpec.RSA_2048], ids=str)
def test_good_client_and_server_complete_a_mutual_handshake(authority, workdir, tls, leaf_key):
    bundle = write_bundle(workdir, authority)
    server = server_credentials(authority, workdir, key=leaf_key)
    _, client = client_credentials(authority, workdir, key=leaf_key)
    client_view, server_view = handshake(workdir, bundle, server, client, tls=tls)
    assert client_view.accepted, client_view.detail
    assert server_view.accepted, server_view.detail
    assert server_view.detail == "commonName=alice"


@pytest.mark.parametrize("tls", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=str)
def test_client_certificate_from_another_ca_is_rejected(authority, other_authority, workdir, tls):
    bundle = write_bundle(workdir, authority)
    server = server_credentials(authority, workdir)
    _, stranger = client_credentials(other_authority, workdir / "other", "mallory")
    client_view, server_view = handshake(workdir, bundle, server, stranger, tls=tls)
    assert not client_view.accepted
    assert not server_view.accepted
    assert "unable to get local issuer certificate" in server_view.detail


def test_server_certificate_from_another_ca_is_rejected_by_the_client(
    authority, other_authority, workdir
):
    bundle = write_bundle(workdir, authority)
    foreign_server = server_credentials(other_authority, workdir / "other")
    _, client = client_credentials(authority, workdir)
    client_view, _ = handshake(workdir, bundle, foreign_server, client)
    assert not client_view.accepted
    assert "unable to get local issuer certificate" in client_view.detail


def test_server_certificate_for_another_name_is_rejected(authority, workdir):
    bundle = write_bundle(workdir, authority)
    server = server_credentials(authority, workdir, dns="api.internal")
    _, client = client_credentials(authority, workdir)
    client_view, _ = handshake(workdir, bundle, server, client, hostname="db.internal")
    assert not client_view.accepted
    assert "Hostname mismatch" in client_view.detail
    # The same certificate is accepted under the name it was issued for.
    good_view, _ = handshake(workdir, bundle, server, client, hostname="api.internal")
    assert good_view.accepted, good_view.detail


def test_client_without_a_certificate_is_rejected(authority, workdir):
    bundle = write_bundle(workdir, authority)
    server = server_credentials(authority, workdir)
    client_view, server_view = handshake(workdir, bundle, server, None)
    assert not client_view.accepted
    assert server_view.detail == "PEER_DID_NOT_RETURN_A_CERTIFICATE"


def test_expired_certificates_are_rejected_on_both_ends(tmp_path):
    # An authority whose clock stands 100 days in the past issues 30-day certificates that
    # expired 70 days ago by the real clock OpenSSL uses.
    past = FixedClock(system_clock() - timedelta(days=100))
    authority = build_authority(tmp_path / "ca", clock=past)
    bundle = write_bundle(tmp_path, authority)
    expired_client = authority.issue_with_new_key(
        profile="client",
        names=RequestedNames.of(common_name="old"),
        requested_by="test",
        lifetime=timedelta(days=30),
    )
    expired_server = authority.issue_with_new_key(
        profile="server",
        names=RequestedNames.of(dns_names=["localhost"]),
        requested_by="test",
        lifetime=timedelta(days=30),
    )
    past.now = system_clock()
    fresh_server = authority.issue_with_new_key(
        profile="server", names=RequestedNames.of(dns_names=["localhost"]), requested_by="test"
    )
    fresh_client = authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name="new"), requested_by="test"
    )
    good_server = write_credentials(tmp_path, "server", fresh_server)
    good_client = write_credentials(tmp_path, "new", fresh_client)

    client_view, server_view = handshake(
        tmp_path, bundle, good_server, write_credentials(tmp_path, "old", expired_client)
    )
    assert not server_view.accepted
    assert "certificate has expired" in server_view.detail

    client_view, _ = handshake(
        tmp_path, bundle, write_credentials(tmp_path, "old-server", expired_server), good_client
    )
    assert not client_view.accepted
    assert "certificate has expired" in client_view.detail

    client_view, server_view = handshake(tmp_path, bundle, good_server, good_client)
    assert client_view.accepted, client_view.detail


@pytest.mark.parametrize("tls", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=str)
def test_revoked_client_is_rejected_once_the_crl_lists_it(authority, workdir, tls):
    bundle = write_bundle(workdir, authority)
    server = server_credentials(authority, workdir)
    issued, client = client_credentials(authority, workdir, "bob")

    before = workdir / "crl-before.pem"
    before.write_bytes(authority.generate_crl(requested_by="test").pem)
    client_view, server_view = handshake(workdir, bundle, server, client, crl=before, tls=tls)
    assert client_view.accepted, client_view.detail

    authority.revoke(issued.serial, RevocationReason.KEY_COMPROMISE, requested_by="test")
    after = workdir / "crl-after.pem"
    after.write_bytes(authority.generate_crl(requested_by="test").pem)
    client_view, server_view = handshake(workdir, bundle, server, client, crl=after, tls=tls)
    assert not client_view.accepted
    assert not server_view.accepted
    assert server_view.detail == "certificate revoked"
