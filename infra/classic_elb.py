"""Backend key pinning on a Classic ELB: the load balancer then talks only to instances
whose certificate holds a pinned public key (AWS_NOTES, "Backend re-encryption").

The pieces, as the ELB API has them:
- one ``PublicKeyPolicyType`` policy per key, attribute ``PublicKey`` = the certificate
  body (base64 DER, no BEGIN/END lines); albca names it ``albca-key-<fingerprint>``;
- one ``BackendServerAuthenticationPolicyType`` policy listing the key policies
  (attribute ``PublicKeyPolicyName``, repeated); policies cannot be modified, so albca
  makes a new one, named after the set of keys, whenever the set changes;
- ``set_load_balancer_policies_for_backend_server(InstancePort, PolicyNames)``, which
  REPLACES the whole set of the port: albca sends every policy the port had, with the old
  authentication policy swapped for the new one, so no other pinned key and no other
  policy is dropped.

A key rollover is ``pin`` of the new key (both accepted), switching the backend to it,
then ``unpin`` of the old key. Unpinning the last key would turn backend authentication
off altogether, so it needs ``allow_none``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

from albca.infra.calls import Aws
from albca.infra.cert_checks import certificate_body, describe_certificate, key_fingerprint
from albca.infra.errors import SetupRefused

__all__ = ["BackendPolicies", "pin_backend_key", "unpin_backend_key", "read_backend_policies"]

PUBLIC_KEY_TYPE = "PublicKeyPolicyType"
AUTHENTICATION_TYPE = "BackendServerAuthenticationPolicyType"
_SECURE_INSTANCE_PROTOCOLS = ("HTTPS", "SSL")


@dataclass(frozen=True)
class BackendPolicies:
    """What an instance port of a Classic ELB has now."""

    load_balancer: str
    port: int
    port_policies: tuple[str, ...]  # applied to the port, in order
    authentication: tuple[str, ...]  # of those, the backend authentication policies
    keys: Mapping[str, str] = field(default_factory=dict)  # key policy name -> fingerprint
    all_policies: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    def pinned_key_policies(self) -> list[str]:
        """Key policies the port's authentication policies list, in order."""
        names: list[str] = []
        for policy in self.authentication:
            for attribute in self.all_policies[policy].get("PolicyAttributeDescriptions", []):
                if attribute.get("AttributeName") == "PublicKeyPolicyName":
                    value = attribute.get("AttributeValue", "")
                    if value not in names:
                        names.append(value)
        return names

    def key_policy_for(self, fingerprint: str) -> str | None:
        """An existing key policy (albca's or not) holding this key."""
        for name, held in self.keys.items():
            if held == fingerprint:
                return name
        return None


def read_backend_policies(aws: Aws, load_balancer: str, port: int) -> BackendPolicies:
    (described,) = aws.read("elb", "describe_load_balancers", LoadBalancerNames=[load_balancer])[
        "LoadBalancerDescriptions"
    ]
    _require_secure_instance_port(described, port)
    port_policies: tuple[str, ...] = ()
    for backend in described.get("BackendServerDescriptions", []):
        if backend.get("InstancePort") == port:
            port_policies = tuple(backend.get("PolicyNames", []))
    policies = aws.read("elb", "describe_load_balancer_policies", LoadBalancerName=load_balancer)
    by_name = {p["PolicyName"]: p for p in policies.get("PolicyDescriptions", [])}
    keys = {}
    for name, policy in by_name.items():
        if policy.get("PolicyTypeName") == PUBLIC_KEY_TYPE:
            fingerprint = _fingerprint_of_policy(policy)
            if fingerprint is not None:
                keys[name] = fingerprint
    authentication = tuple(
        name
        for name in port_policies
        if by_name.get(name, {}).get("PolicyTypeName") == AUTHENTICATION_TYPE
    )
    return BackendPolicies(load_balancer, port, port_policies, authentication, keys, by_name)


def pin_backend_key(aws: Aws, load_balancer: str, port: int, certificate: x509.Certificate) -> str:
    """Add the certificate's key to the keys the ELB accepts from instances on ``port``."""
    current = read_backend_policies(aws, load_balancer, port)
    fingerprint = key_fingerprint(certificate.public_key())
    key_policy = current.key_policy_for(fingerprint)
    pinned = current.pinned_key_policies()
    if key_policy is not None and key_policy in pinned:
        return _summary(current, pinned, f"key {fingerprint[:16]} is already pinned")
    if key_policy is None:
        key_policy = f"albca-key-{fingerprint[:32]}"
        aws.change(
            "elb",
            "create_load_balancer_policy",
            LoadBalancerName=load_balancer,
            PolicyName=key_policy,
            PolicyTypeName=PUBLIC_KEY_TYPE,
            PolicyAttributes=[
                {"AttributeName": "PublicKey", "AttributeValue": certificate_body(certificate)}
            ],
        )
    wanted = [*pinned, key_policy]
    _apply(aws, current, wanted)
    return _summary(
        current, wanted, f"pinned the key of {describe_certificate(certificate)} ({key_policy})"
    )


def unpin_backend_key(
    aws: Aws,
    load_balancer: str,
    port: int,
    certificate: x509.Certificate,
    *,
    allow_none: bool = False,
) -> str:
    """Remove the certificate's key from the accepted keys of ``port``."""
    current = read_backend_policies(aws, load_balancer, port)
    fingerprint = key_fingerprint(certificate.public_key())
    pinned = current.pinned_key_policies()
    drop = [name for name in pinned if current.keys.get(name) == fingerprint]
    if not drop:
        return _summary(current, pinned, f"key {fingerprint[:16]} is not pinned")
    wanted = [name for name in pinned if name not in drop]
    if not wanted and not allow_none:
        raise SetupRefused(
            f"the key of {describe_certificate(certificate)} is the last key pinned on "
            f"{load_balancer} port {port}: unpinning it turns backend authentication off; "
            "pin the new key first (albca backend pin), or pass --allow-none",
            rule="a pinned port keeps at least one key",
        )
    _apply(aws, current, wanted)
    for name in drop:
        if name.startswith("albca-key-") and not _still_used(current, name):
            aws.change(
                "elb",
                "delete_load_balancer_policy",
                LoadBalancerName=load_balancer,
                PolicyName=name,
            )
    return _summary(current, wanted, f"unpinned the key of {describe_certificate(certificate)}")


def _apply(aws: Aws, current: BackendPolicies, key_policies: Sequence[str]) -> None:
    """Point the port at one authentication policy listing ``key_policies`` (or none),
    keeping every other policy of the port, then delete albca's replaced policy."""
    others = [name for name in current.port_policies if name not in current.authentication]
    authentication: list[str] = []
    if key_policies:
        name = _authentication_policy_name(current.port, key_policies)
        if name not in current.all_policies:
            aws.change(
                "elb",
                "create_load_balancer_policy",
                LoadBalancerName=current.load_balancer,
                PolicyName=name,
                PolicyTypeName=AUTHENTICATION_TYPE,
                PolicyAttributes=[
                    {"AttributeName": "PublicKeyPolicyName", "AttributeValue": key}
                    for key in key_policies
                ],
            )
        authentication = [name]
    aws.change(
        "elb",
        "set_load_balancer_policies_for_backend_server",
        LoadBalancerName=current.load_balancer,
        InstancePort=current.port,
        PolicyNames=[*others, *authentication],
    )
    for old in current.authentication:
        if old.startswith("albca-backend-") and old not in authentication:
            aws.change(
                "elb",
                "delete_load_balancer_policy",
                LoadBalancerName=current.load_balancer,
                PolicyName=old,
            )


def _authentication_policy_name(port: int, key_policies: Sequence[str]) -> str:
    digest = hashlib.sha256("\n".join(sorted(key_policies)).encode()).hexdigest()[:16]
    return f"albca-backend-{port}-{digest}"


def _still_used(current: BackendPolicies, key_policy: str) -> bool:
    """Another authentication policy (of another port) still lists this key policy."""
    for name, policy in current.all_policies.items():
        if name in current.authentication or policy.get("PolicyTypeName") != AUTHENTICATION_TYPE:
            continue
        for attribute in policy.get("PolicyAttributeDescriptions", []):
            if attribute.get("AttributeValue") == key_policy:
                return True
    return False


def _require_secure_instance_port(described: Mapping[str, Any], port: int) -> None:
    listeners = [d["Listener"] for d in described.get("ListenerDescriptions", [])]
    for listener in listeners:
        if listener.get("InstancePort") == port:
            protocol = str(listener.get("InstanceProtocol", "")).upper()
            if protocol in _SECURE_INSTANCE_PROTOCOLS:
                return
            raise SetupRefused(
                f"--port {port}: the ELB {described['LoadBalancerName']} talks {protocol} to "
                f"instance port {port}; backend keys are checked only on HTTPS or SSL "
                "instance ports (set the listener's InstanceProtocol to HTTPS first)",
                rule="instance port uses HTTPS or SSL",
            )
    ports = ", ".join(
        f"{listener.get('InstancePort')}/{listener.get('InstanceProtocol')}"
        for listener in listeners
    )
    raise SetupRefused(
        f"--port {port}: no listener of the ELB {described['LoadBalancerName']} forwards to "
        f"instance port {port} (its instance ports: {ports or 'none'})",
        rule="instance port of a listener",
    )


def _fingerprint_of_policy(policy: Mapping[str, Any]) -> str | None:
    for attribute in policy.get("PolicyAttributeDescriptions", []):
        if attribute.get("AttributeName") != "PublicKey":
            continue
        text = "".join(
            line
            for line in str(attribute.get("AttributeValue", "")).splitlines()
            if not line.startswith("-----")
        )
        try:
            certificate = x509.load_der_x509_certificate(base64.b64decode("".join(text.split())))
        except (ValueError, binascii.Error):
            return None
        return key_fingerprint(certificate.public_key())
    return None


def _summary(current: BackendPolicies, key_policies: Sequence[str], what: str) -> str:
    return (
        f"{what}; ELB {current.load_balancer} instance port {current.port} accepts "
        f"{len(key_policies)} pinned key(s)"
    )
