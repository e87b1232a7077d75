"""A rotation whose new issuing CA key is a new KMS key (moto KMS, signing through the
stand-in that signs digests as AWS does); every signature checked with cryptography."""

from __future__ import annotations

import boto3
from cryptography import x509

from albca.ca.hierarchy import certificate_of
from albca.ca.keys import KeySpec
from albca.ca.kms_signer import KmsSigner
from albca.ca.names import RequestedNames
from albca.ca.records import RevocationReason
from albca.compose.ca_keys import kms_key_source
from albca.trust_bundle.rotation import Rotation
from albca.trust_bundle.trust_stores import TrustStoreManager
from tests.authorities import build_authority

REGION = "us-east-1"


class KmsOrMemory(dict):
    """Resolves ``mem:`` locations from the dict and KMS key ARNs through KMS."""

    def __missing__(self, location: str):
        signer = KmsSigner(boto3.client("kms", region_name=REGION), location)
        self[location] = signer
        return signer


def test_rotation_to_a_new_kms_key(tmp_path, kms_standin, publisher, trust_api):
    authority = build_authority(tmp_path / "kms-ca", signers=KmsOrMemory())
    manager = TrustStoreManager(
        authority=authority, publisher=publisher, api=trust_api, poll_seconds=0
    )
    manager.create("kms-store", actor="test")
    rotation = Rotation(authority=authority, new_key=kms_key_source(REGION), distributor=manager)
    result = rotation.rotate_issuing(actor="test", key_spec=KeySpec.EC_P384)

    assert result.current.key_location.startswith(f"arn:aws:kms:{REGION}:")
    issuing = certificate_of(result.current)
    root = next(c for c in authority.trusted_certificates() if c.issuer == c.subject)
    issuing.verify_directly_issued_by(root)
    issued = authority.issue_with_new_key(
        profile="client", names=RequestedNames.of(common_name="kms-alice"), requested_by="test"
    )
    issued.certificate.verify_directly_issued_by(issuing)
    authority.revoke(issued.serial, RevocationReason.KEY_COMPROMISE, requested_by="test")
    manager.revocation_sync().run(actor="test")
    crl = x509.load_der_x509_crl(authority.generate_crl(requested_by="test").der)
    assert crl.is_signature_valid(issuing.public_key())
    assert crl.get_revoked_certificate_by_serial_number(issued.serial) is not None
    assert {request.message_type for request in kms_standin.requests} == {"DIGEST"}
    tags = boto3.client("kms", region_name=REGION).list_resource_tags(
        KeyId=result.current.key_location.rsplit("/", 1)[-1]
    )["Tags"]
    assert {"TagKey": "albca:role", "TagValue": "issuing"} in tags
    # The store holds the new KMS-signed CA's CRL.
    assert result.current.key_id in trust_api.get("kms-store").crls


def test_a_planned_rotation_names_the_kms_key_it_would_make_and_makes_none(
    tmp_path, kms_standin, publisher, trust_api
):
    from albca.compose.ca_keys import kms_key_call
    from albca.trust_bundle.planning import Plan, PlannedCall, Planner

    authority = build_authority(tmp_path / "kms-ca", signers=KmsOrMemory())
    manager = TrustStoreManager(
        authority=authority, publisher=publisher, api=trust_api, poll_seconds=0
    )
    manager.create("kms-store", actor="test")
    rotation = Rotation(
        authority=authority,
        new_key=kms_key_source(REGION),
        distributor=manager,
        key_store=f"a new KMS key in {REGION}",
        key_call=kms_key_call,
    )
    kms = boto3.client("kms", region_name=REGION)
    keys = kms.list_keys()["Keys"]
    plan = Plan()
    rotation.plan_rotate_issuing(plan, Planner(manager, plan), key_spec=KeySpec.EC_P384)
    assert kms.list_keys()["Keys"] == keys  # no key made
    (create_key,) = [a for a in plan.actions if isinstance(a, PlannedCall) and a.service == "kms"]
    assert plan.actions.index(create_key) == 0  # the key first, then the CA, then the bundle
    assert create_key.params["KeySpec"] == "ECC_NIST_P384"

    result = rotation.rotate_issuing(actor="test", key_spec=KeySpec.EC_P384)
    made = kms.describe_key(KeyId=result.current.key_location.rsplit("/", 1)[-1])["KeyMetadata"]
    assert made["KeySpec"] == create_key.params["KeySpec"]
    assert made["KeyUsage"] == create_key.params["KeyUsage"]
    assert made["Description"] == create_key.params["Description"]
    tags = kms.list_resource_tags(KeyId=made["KeyId"])["Tags"]
    assert sorted(map(str, tags)) == sorted(map(str, create_key.params["Tags"]))
