"""Put the trust store fake behind a real boto3 ELBv2 client.

The client stays a real botocore client: it validates each request against the service
model first (``before-call`` is emitted only after validation and serialisation), and
every call the fake does not answer still goes to moto, in-process under
``moto.mock_aws`` or over HTTP to a ``ThreadedMotoServer`` (``endpoint_url``). Hooks:

- ``before-parameter-build``: remember the caller's parameters (the fake reads those,
  not the serialised query string);
- ``before-call`` of the ten trust store operations: answer from the fake, as a parsed
  response or an error botocore turns into the modelled exception class
  (``client.exceptions.TrustStoreNotFoundException``, ...);
- ``before-call`` of AddTags/RemoveTags/DescribeTags: answer for trust store ARNs from
  the fake, and send the other ARNs of the same call on to moto;
- ``before-call`` of CreateListener/ModifyListener: refuse what AWS refuses about
  ``MutualAuthentication`` before moto sees the request;
- ``after-call`` of Create/Modify/DescribeListeners: record and return the attributes
  moto drops; of DeleteListener/DeleteLoadBalancer: forget them.

Usage (tests, ``albca demo --aws-emulated``)::

    elbv2 = boto3.client("elbv2", region_name="us-east-1")   # inside mock_aws, or with
    s3 = boto3.client("s3", region_name="us-east-1")         # endpoint_url=moto server
    fake = install_trust_store_fake(elbv2, s3)
    install_trust_store_fake(other_elbv2_client, fake=fake)   # a second client, same state
"""

from __future__ import annotations

import copy
from typing import Any

from botocore import xform_name
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError

from albca.emulated_aws.elbv2_trust_stores import (
    MAX_PAGE_SIZE,
    AwsApiError,
    Listener,
    TrustStoreFake,
    Undocumented,
    is_trust_store_arn,
)
from albca.emulated_aws.responses import error_response, success_response
from albca.emulated_aws.trust_store_rules import TrustStoreQuotas

__all__ = ["install_trust_store_fake"]

_SERVICE = "elastic-load-balancing-v2"
_PARAMS = "albca_emulation_params"
_PENDING = "albca_emulation_mutual_authentication"
_FORGET = "forget"  # a modify that turned the listener away from HTTPS
_INSTALLED = "_albca_trust_store_fake"


def install_trust_store_fake(
    elbv2_client: Any,
    s3_client: Any = None,
    *,
    fake: TrustStoreFake | None = None,
    creating_polls: int = 1,
    quotas: TrustStoreQuotas | None = None,
    undocumented: Undocumented | None = None,
    max_page_size: int = MAX_PAGE_SIZE,
) -> TrustStoreFake:
    """Answer the trust store calls of ``elbv2_client`` from a fake reading ``s3_client``
    (or from ``fake``, to share one state between clients). Returns the fake. The other
    options are ``TrustStoreFake``'s."""
    service = elbv2_client.meta.service_model.service_id.hyphenize()
    if service != _SERVICE:
        raise TypeError(f"elbv2_client must be an ELBv2 client, not {service}")
    if getattr(elbv2_client, _INSTALLED, None) is not None:
        raise ValueError("the trust store fake is already installed on this client")
    if fake is None:
        if s3_client is None:
            raise TypeError("give s3_client (the fake reads bundles and CRLs from S3) or fake")
        fake = TrustStoreFake(
            s3_client,
            creating_polls=creating_polls,
            quotas=quotas,
            undocumented=undocumented,
            max_page_size=max_page_size,
        )
    setattr(elbv2_client, _INSTALLED, fake)
    hooks = _Hooks(fake, elbv2_client)
    events = elbv2_client.meta.events
    events.register(f"before-parameter-build.{_SERVICE}", _remember_params)
    for operation in fake.operations:
        events.register(f"before-call.{_SERVICE}.{operation}", hooks.answer)
    for operation in fake.tag_operations:
        events.register(f"before-call.{_SERVICE}.{operation}", hooks.answer_tags)
    events.register(f"before-call.{_SERVICE}.CreateListener", hooks.check_create_listener)
    events.register(f"before-call.{_SERVICE}.ModifyListener", hooks.check_modify_listener)
    for operation in ("CreateListener", "ModifyListener", "DescribeListeners"):
        events.register(f"after-call.{_SERVICE}.{operation}", hooks.show_listeners)
    events.register(f"after-call.{_SERVICE}.DeleteListener", hooks.forget_listener)
    events.register(f"after-call.{_SERVICE}.DeleteLoadBalancer", hooks.forget_load_balancer)
    return fake


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = copy.deepcopy(params)


class _Hooks:
    def __init__(self, fake: TrustStoreFake, client: Any) -> None:
        self._fake = fake
        self._client = client

    def answer(self, model: Any, context: dict[str, Any], **_: Any) -> tuple[AWSResponse, Any]:
        region = context.get("client_region") or "us-east-1"
        try:
            return _success(self._fake.handle(model.name, context.get(_PARAMS, {}), region))
        except AwsApiError as error:
            return _failure(error)

    def answer_tags(
        self, model: Any, context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, Any] | None:
        params = context.get(_PARAMS, {})
        arns = params.get("ResourceArns", [])
        stores = [arn for arn in arns if is_trust_store_arn(arn)]
        if not stores:
            return None  # moto answers for load balancers, target groups, listeners, rules
        region = context.get("client_region") or "us-east-1"
        others = [arn for arn in arns if not is_trust_store_arn(arn)]
        try:
            body = self._fake.handle(model.name, {**params, "ResourceArns": stores}, region)
        except AwsApiError as error:
            return _failure(error)
        if others:
            # The same client, so the same endpoint (in-process moto or a moto server).
            method = getattr(self._client, xform_name(model.name))
            try:
                forwarded = method(**{**params, "ResourceArns": others})
            except ClientError as exc:
                answer = exc.response.get("Error", {})
                return _failure(AwsApiError(answer.get("Code", ""), answer.get("Message", "")))
            if "TagDescriptions" in body:
                body["TagDescriptions"] = [
                    *forwarded.get("TagDescriptions", []),
                    *body["TagDescriptions"],
                ]
        return _success(body)

    def check_create_listener(
        self, context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, Any] | None:
        params = context.get(_PARAMS, {})
        if "MutualAuthentication" not in params:
            return None
        listener = Listener(None, params["LoadBalancerArn"], params.get("Protocol"))
        return self._check(listener, params["MutualAuthentication"], context)

    def check_modify_listener(
        self, context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, Any] | None:
        params = context.get(_PARAMS, {})
        try:
            (current,) = self._client.describe_listeners(ListenerArns=[params["ListenerArn"]])[
                "Listeners"
            ]
        except ClientError:
            return None  # moto answers ListenerNotFound
        protocol = params.get("Protocol") or current.get("Protocol")
        if "MutualAuthentication" in params:
            listener = Listener(current["ListenerArn"], current["LoadBalancerArn"], protocol)
            return self._check(listener, params["MutualAuthentication"], context)
        if protocol != "HTTPS":
            context[_PENDING] = _FORGET
        return None

    def _check(
        self, listener: Listener, attributes: dict[str, Any], context: dict[str, Any]
    ) -> tuple[AWSResponse, Any] | None:
        try:
            context[_PENDING] = self._fake.check_mutual_authentication(listener, attributes)
        except AwsApiError as error:
            return _failure(error)
        return None

    def show_listeners(
        self, http_response: AWSResponse, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        if http_response.status_code >= 300:
            return
        pending = context.get(_PENDING)
        for listener in parsed.get("Listeners", []):
            arn = listener["ListenerArn"]
            if pending == _FORGET:
                self._fake.forget_listeners(listener_arns=[arn])
            elif pending is not None:
                self._fake.record_mutual_authentication(arn, listener["LoadBalancerArn"], pending)
            attributes = self._fake.mutual_authentication(arn, listener.get("Protocol"))
            if attributes is None:
                listener.pop("MutualAuthentication", None)
            else:
                listener["MutualAuthentication"] = attributes

    def forget_listener(
        self, http_response: AWSResponse, context: dict[str, Any], **_: Any
    ) -> None:
        if http_response.status_code < 300:
            self._fake.forget_listeners(listener_arns=[context[_PARAMS]["ListenerArn"]])

    def forget_load_balancer(
        self, http_response: AWSResponse, context: dict[str, Any], **_: Any
    ) -> None:
        if http_response.status_code < 300:
            self._fake.forget_listeners(load_balancer_arn=context[_PARAMS]["LoadBalancerArn"])


def _success(body: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    return success_response(body)


def _failure(error: AwsApiError) -> tuple[AWSResponse, dict[str, Any]]:
    return error_response(error.code, error.message)
