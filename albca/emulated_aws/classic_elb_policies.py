"""The Classic ELB policy rules moto does not enforce, in front of a real boto3 ELB client.

moto 5.2 stores Classic ELB policies but accepts a duplicate policy name, a backend
server policy list naming policies that do not exist, and deleting a policy that is in
use. AWS refuses each (Elastic Load Balancing API reference: CreateLoadBalancerPolicy,
SetLoadBalancerPoliciesForBackendServer, DeleteLoadBalancerPolicy), and albca's key
rollover depends on doing these calls in the right order, so the tests need a fake that
refuses them too:

- ``CreateLoadBalancerPolicy``: a name already used on the load balancer is
  ``DuplicatePolicyName``; a ``PublicKeyPolicyType`` policy needs a ``PublicKey`` that is
  base64 DER (a certificate, as AWS_NOTES says, or a SubjectPublicKeyInfo), and a
  ``BackendServerAuthenticationPolicyType`` policy needs every ``PublicKeyPolicyName`` to
  name an existing public key policy: otherwise ``InvalidConfigurationRequest``.
- ``SetLoadBalancerPoliciesForBackendServer``: each policy must exist (``PolicyNotFound``).
- ``DeleteLoadBalancerPolicy``: a policy enabled on a listener or a backend port is
  ``InvalidConfigurationRequest`` ("This policy must not be enabled for any listeners").
- moto also drops a listener's ``InstanceProtocol`` (it reports the front-end protocol):
  the fake remembers what CreateLoadBalancer/CreateLoadBalancerListeners were given and
  DescribeLoadBalancers returns it.

The policies are moto's state, read through the same client before each call; the
instance protocols are the fake's (``ClassicElbFake``, shared between clients).
"""

from __future__ import annotations

import base64
import binascii
import threading
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.emulated_aws.responses import error_response

__all__ = ["ClassicElbFake", "install_classic_elb_policy_rules"]

_SERVICE = "elastic-load-balancing"
_PARAMS = "albca_elb_params"
_INSTALLED = "_albca_classic_elb_rules"
Answer = tuple[AWSResponse, dict[str, Any]] | None


class ClassicElbFake:
    """What moto drops: each listener's instance protocol, by (load balancer, port)."""

    def __init__(self) -> None:
        self._instance_protocols: dict[tuple[str, int], str] = {}
        self._lock = threading.Lock()

    def remember(self, load_balancer: str, listeners: list[dict[str, Any]]) -> None:
        with self._lock:
            for listener in listeners:
                if listener.get("InstanceProtocol"):
                    key = (load_balancer, int(listener["LoadBalancerPort"]))
                    self._instance_protocols[key] = str(listener["InstanceProtocol"]).upper()

    def forget(self, load_balancer: str, ports: list[int] | None = None) -> None:
        with self._lock:
            for key in list(self._instance_protocols):
                if key[0] == load_balancer and (ports is None or key[1] in ports):
                    del self._instance_protocols[key]

    def instance_protocol(self, load_balancer: str, port: int) -> str | None:
        with self._lock:
            return self._instance_protocols.get((load_balancer, port))


def install_classic_elb_policy_rules(
    elb_client: Any, *, fake: ClassicElbFake | None = None
) -> ClassicElbFake:
    """Install the rules on ``elb_client``; pass ``fake`` to share the instance protocols
    between clients. Returns the fake."""
    service = elb_client.meta.service_model.service_id.hyphenize()
    if service != _SERVICE:
        raise TypeError(f"elb_client must be a Classic ELB client, not {service}")
    if getattr(elb_client, _INSTALLED, None) is not None:
        raise ValueError("the Classic ELB policy rules are already installed on this client")
    fake = fake or ClassicElbFake()
    setattr(elb_client, _INSTALLED, fake)
    rules = _Rules(elb_client, fake)
    events = elb_client.meta.events
    events.register(f"before-parameter-build.{_SERVICE}", _remember_params)
    events.register(f"before-call.{_SERVICE}.CreateLoadBalancerPolicy", rules.create)
    events.register(
        f"before-call.{_SERVICE}.SetLoadBalancerPoliciesForBackendServer", rules.set_backend
    )
    events.register(f"before-call.{_SERVICE}.DeleteLoadBalancerPolicy", rules.delete)
    for operation in ("CreateLoadBalancer", "CreateLoadBalancerListeners"):
        events.register(f"after-call.{_SERVICE}.{operation}", rules.remember_listeners)
    events.register(f"after-call.{_SERVICE}.DeleteLoadBalancerListeners", rules.forget_listeners)
    events.register(f"after-call.{_SERVICE}.DeleteLoadBalancer", rules.forget_listeners)
    events.register(f"after-call.{_SERVICE}.DescribeLoadBalancers", rules.show_listeners)
    return fake


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = params


class _Rules:
    def __init__(self, client: Any, fake: ClassicElbFake) -> None:
        self._client = client
        self._fake = fake

    def remember_listeners(
        self, http_response: AWSResponse, context: dict[str, Any], **_: Any
    ) -> None:
        if http_response.status_code < 300:
            params = context[_PARAMS]
            self._fake.remember(params["LoadBalancerName"], params.get("Listeners", []))

    def forget_listeners(
        self, http_response: AWSResponse, context: dict[str, Any], **_: Any
    ) -> None:
        if http_response.status_code < 300:
            params = context[_PARAMS]
            ports = params.get("LoadBalancerPorts")
            self._fake.forget(params["LoadBalancerName"], None if ports is None else list(ports))

    def show_listeners(self, http_response: AWSResponse, parsed: dict[str, Any], **_: Any) -> None:
        if http_response.status_code >= 300:
            return
        for described in parsed.get("LoadBalancerDescriptions", []):
            for listener_description in described.get("ListenerDescriptions", []):
                listener = listener_description["Listener"]
                protocol = self._fake.instance_protocol(
                    described["LoadBalancerName"], int(listener["LoadBalancerPort"])
                )
                if protocol is not None:
                    listener["InstanceProtocol"] = protocol

    def _policies(self, load_balancer: str) -> dict[str, dict[str, Any]] | None:
        try:
            described = self._client.describe_load_balancer_policies(LoadBalancerName=load_balancer)
        except ClientError:
            return None  # moto answers LoadBalancerNotFound for the real call
        return {p["PolicyName"]: p for p in described["PolicyDescriptions"]}

    def create(self, context: dict[str, Any], **_: Any) -> Answer:
        params = context[_PARAMS]
        policies = self._policies(params["LoadBalancerName"])
        if policies is None:
            return None
        name = params["PolicyName"]
        if name in policies:
            return error_response("DuplicatePolicyName", f"Policy {name} already exists")
        attributes = params.get("PolicyAttributes", [])
        kind = params["PolicyTypeName"]
        if kind == "PublicKeyPolicyType":
            keys = [a for a in attributes if a.get("AttributeName") == "PublicKey"]
            if len(keys) != 1 or not _is_public_key(keys[0].get("AttributeValue", "")):
                return _invalid(f"Policy {name}: PublicKey must be one base64 DER public key")
        if kind == "BackendServerAuthenticationPolicyType":
            names = [
                a.get("AttributeValue")
                for a in attributes
                if a.get("AttributeName") == "PublicKeyPolicyName"
            ]
            if not names:
                return _invalid(f"Policy {name}: PublicKeyPolicyName is required")
            for key in names:
                if policies.get(str(key), {}).get("PolicyTypeName") != "PublicKeyPolicyType":
                    return _invalid(f"Policy {name}: {key} is not a PublicKeyPolicyType policy")
        return None

    def set_backend(self, context: dict[str, Any], **_: Any) -> Answer:
        params = context[_PARAMS]
        policies = self._policies(params["LoadBalancerName"])
        if policies is None:
            return None
        for name in params.get("PolicyNames", []):
            if name not in policies:
                return error_response("PolicyNotFound", f"There is no policy with name {name}")
        return None

    def delete(self, context: dict[str, Any], **_: Any) -> Answer:
        params = context[_PARAMS]
        try:
            (described,) = self._client.describe_load_balancers(
                LoadBalancerNames=[params["LoadBalancerName"]]
            )["LoadBalancerDescriptions"]
        except ClientError:
            return None
        name = params["PolicyName"]
        enabled = [
            *(
                p
                for backend in described.get("BackendServerDescriptions", [])
                for p in backend.get("PolicyNames", [])
            ),
            *(p for listener in described.get("ListenerDescriptions", [])
              for p in listener.get("PolicyNames", [])),
        ]  # fmt: skip
        if name in enabled:
            return _invalid(f"Policy {name} is enabled and cannot be deleted")
        return None


def _invalid(message: str) -> Answer:
    return error_response("InvalidConfigurationRequest", message)


def _is_public_key(value: str) -> bool:
    try:
        der = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        x509.load_der_x509_certificate(der)
        return True
    except ValueError:
        pass
    try:
        serialization.load_der_public_key(der)
        return True
    except ValueError:
        return False
