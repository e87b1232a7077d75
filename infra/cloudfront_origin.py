"""CloudFront -> ALB origin locked to one distribution by origin mutual TLS.

The distribution presents a client certificate from albca's CA to its origin
(``CustomOriginConfig.OriginMtlsConfig.ClientCertificateArn``, ACM in us-east-1), and the
ALB behind the origin verifies it through a trust store holding albca's bundle: a
cryptographic replacement for "allow the CloudFront prefix list" (AWS_NOTES).

Order matters for traffic: everything is checked first (CA chain against CloudFront's
rules, the origin, the ALB listener and its trust store); then the certificate is imported
and the distribution updated; only once the distribution is Deployed does the listener
switch to verify mode, so CloudFront never reaches a verifying ALB without its
certificate. A second run with nothing due changes nothing.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509

from albca.ca.issued import IssuedCertificate
from albca.ca.keys import KeySpec
from albca.infra.acm import (
    AcmCertificate,
    ImportMaterial,
    find_imported,
    import_certificate,
    inspect_certificate,
    propagation_wait,
    retry_until_seen,
)
from albca.infra.acm_rules import has_key_spec, leaf_key_spec
from albca.infra.calls import Aws
from albca.infra.cert_checks import issuing_ca, renewal_due
from albca.infra.clients import region_of_arn
from albca.infra.cloudfront_rules import check_ca_for_cloudfront, check_client_certificate
from albca.infra.errors import CloudFrontRuleViolation, SetupRefused
from albca.infra.listener_mtls import MtlsSettings, enable_mtls, require_verify_slot
from albca.infra.listeners import Listener, listeners_of, read_listener, require_https
from albca.infra.trust_store_ready import ExistingTrustStore, ReadyTrustStore, TrustStoreSource
from albca.infra.waiting import Wait
from albca.trust_bundle.planning import PLACEHOLDER

__all__ = [
    "OriginMtlsRequest",
    "ClientCertificateAuthority",
    "ensure_origin_mtls",
    "import_client_certificate",
    "is_origin_client_certificate",
    "client_common_name",
]

CLOUDFRONT_REGION = "us-east-1"  # ACM certificates CloudFront uses live here
IssueClientCertificate = Callable[[str, KeySpec], IssuedCertificate]


@dataclass(frozen=True)
class OriginMtlsRequest:
    distribution_id: str
    origin_id: str
    listener_arn: str | None = None  # the ALB listener behind the origin; found if None
    renew: bool = False
    deploy_wait: Wait = field(default_factory=lambda: Wait(seconds=900, interval=15))
    # retrying UpdateDistribution while CloudFront does not see a new certificate
    propagation: Wait = field(default_factory=propagation_wait)


@dataclass(frozen=True)
class ClientCertificateAuthority:
    """albca's CA as this module needs it (plain values from ``albca``)."""

    issue: IssueClientCertificate  # common name, key type -> certificate with a new key
    key_spec: KeySpec | None  # None: the current certificate's, else the CA's algorithm
    issuing_ca: x509.Certificate
    above: tuple[x509.Certificate, ...]  # issuing CA's issuer up to the root
    authorities: Sequence[x509.Certificate]  # every CA certificate of this CA


def ensure_origin_mtls(
    aws: Aws,
    request: OriginMtlsRequest,
    ca: ClientCertificateAuthority,
    *,
    trust_store: TrustStoreSource | None,
    now: datetime,
) -> str:
    # ACM refuses a leaf whose key algorithm is not its signing CA's: refuse it first.
    check_ca_for_cloudfront(ca.issuing_ca, ca.above, leaf_key_spec(ca.key_spec, ca.issuing_ca))
    got = aws.read("cloudfront", "get_distribution_config", region=CLOUDFRONT_REGION,
                   Id=request.distribution_id)  # fmt: skip
    config, etag = got["DistributionConfig"], got["ETag"]
    origin = _origin(config, request)
    listener = _listener_behind(aws, origin, request.listener_arn)
    _require_public_origin_certificate(aws, listener, ca)
    require_verify_slot(aws, listener)  # before anything changes
    store_source = _trust_store_for(listener, trust_store)
    store = store_source.ready(aws)
    if store.arn != PLACEHOLDER:  # else a dry run plans to create it from albca's bundle
        _require_store_trusts(aws, store.arn, store.name, ca.issuing_ca)

    current_arn = (
        origin["CustomOriginConfig"].get("OriginMtlsConfig", {}).get("ClientCertificateArn")
    )
    arn = _client_certificate(aws, request, ca, current_arn, now)
    if arn != current_arn:
        updated = copy.deepcopy(config)
        _origin(updated, request)["CustomOriginConfig"]["OriginMtlsConfig"] = {
            "ClientCertificateArn": arn
        }
        shown = {
            "Id": request.distribution_id,
            "IfMatch": etag,
            "DistributionConfig": "as it is, but Origins[Id="
            f"{request.origin_id}].CustomOriginConfig.OriginMtlsConfig = "
            f'{{"ClientCertificateArn": "{arn}"}}',
        }
        retry_until_seen(
            aws,
            request.propagation,
            lambda: aws.change(
                "cloudfront",
                "update_distribution",
                region=CLOUDFRONT_REGION,
                shown=shown,
                Id=request.distribution_id,
                IfMatch=etag,
                DistributionConfig=updated,
            ),
        )
    if listener.mode != "verify" or listener.trust_store_arn != store.arn:
        if not _deployed(aws, request):
            return (
                f"distribution {request.distribution_id} presents {arn} to origin "
                f"{request.origin_id}; its update is still deploying, so {listener.label} was "
                "left as it is: run the command again once the distribution is Deployed"
            )
        enable_mtls(
            aws,
            listener.arn,
            MtlsSettings(mode="verify"),
            trust_store=ReadyTrustStore(store),
            now=now,
        )
    aws.note(
        "every client holding a certificate from this CA passes the ALB: keep this CA for "
        "CloudFront alone (its own ALBCA_HOME) so that only the distribution gets through"
    )
    return (
        f"distribution {request.distribution_id} presents {arn} to origin "
        f"{request.origin_id}; {listener.label} verifies it with trust store {store.name}"
    )


def _origin(config: Mapping[str, Any], request: OriginMtlsRequest) -> dict[str, Any]:
    origins = config.get("Origins", {}).get("Items", [])
    for origin in origins:
        if origin.get("Id") == request.origin_id:
            if "CustomOriginConfig" not in origin:
                raise SetupRefused(
                    f"origin {request.origin_id} is not a custom origin (an S3 or VPC origin): "
                    "origin mTLS needs a custom origin such as an ALB",
                    rule="custom origin",
                )
            policy = origin["CustomOriginConfig"].get("OriginProtocolPolicy")
            if policy != "https-only":
                raise SetupRefused(
                    f"origin {request.origin_id} uses protocol policy {policy}: CloudFront "
                    "presents a client certificate only over HTTPS; set it to https-only",
                    rule="origin protocol policy https-only",
                )
            found: dict[str, Any] = origin
            return found
    known = ", ".join(o.get("Id", "?") for o in origins) or "none"
    raise SetupRefused(
        f"distribution {request.distribution_id} has no origin {request.origin_id!r} "
        f"(its origins: {known})",
        rule="origin exists",
    )


def _listener_behind(aws: Aws, origin: Mapping[str, Any], listener_arn: str | None) -> Listener:
    """The ALB listener serving the origin: the one given, or the HTTPS listener on the
    origin's HTTPS port of the load balancer whose DNS name is the origin's domain."""
    if listener_arn is not None:
        listener = read_listener(aws, listener_arn)
        require_https(listener)
        return listener
    domain = str(origin.get("DomainName", "")).lower().removeprefix("dualstack.")
    port = int(origin["CustomOriginConfig"].get("HTTPSPort", 443))
    params: dict[str, Any] = {}
    while True:
        page = aws.read("elbv2", "describe_load_balancers", **params)
        for balancer in page.get("LoadBalancers", []):
            if str(balancer.get("DNSName", "")).lower() == domain:
                for listener in listeners_of(aws, balancer["LoadBalancerArn"]):
                    if listener.port == port:
                        require_https(listener)
                        return listener
        if not page.get("NextMarker"):
            break
        params["Marker"] = page["NextMarker"]
    raise SetupRefused(
        f"cannot tell which ALB listener serves origin {origin.get('Id')} ({domain}, port "
        f"{port}): no load balancer in this region has that DNS name (a CNAME of your own?); "
        "give --listener ARN",
        rule="the ALB behind the origin is known",
    )


def _require_public_origin_certificate(
    aws: Aws, listener: Listener, ca: ClientCertificateAuthority
) -> None:
    if listener.certificate_arn is None:
        return
    current = inspect_certificate(aws, listener.certificate_arn, region=region_of_arn(listener.arn))
    if current.certificate is not None and issuing_ca(current.certificate, ca.authorities):
        raise SetupRefused(
            f"{listener.label} presents a certificate from albca's private CA, but CloudFront "
            "connects only to origins with a publicly trusted certificate: give the listener "
            "a public ACM certificate for the origin's name",
            rule="origin presents a publicly trusted certificate",
        )


def _trust_store_for(listener: Listener, given: TrustStoreSource | None) -> TrustStoreSource:
    if given is not None:
        return given
    if listener.mode == "verify" and listener.trust_store_arn is not None:
        return ExistingTrustStore(listener.trust_store_arn, Wait(seconds=0))
    raise SetupRefused(
        f"{listener.label} is not in verify mode: give --trust-store NAME|ARN (a trust store "
        "holding albca's bundle) so that it can verify CloudFront's certificate",
        rule="the ALB verifies client certificates",
    )


def _require_store_trusts(aws: Aws, arn: str, name: str, issuing: x509.Certificate) -> None:
    location = aws.read("elbv2", "get_trust_store_ca_certificates_bundle", TrustStoreArn=arn)
    try:
        loaded = x509.load_pem_x509_certificates(aws.clients.fetch(location["Location"]))
    except (OSError, ValueError) as exc:
        aws.note(f"could not read trust store {name}'s bundle to check it ({exc})")
        return
    if issuing not in loaded:
        raise SetupRefused(
            f"trust store {name} does not hold the CA that issues CloudFront's certificate "
            f"({issuing.subject.rfc4514_string()}): load albca's bundle into it first",
            rule="trust store holds albca's issuing CA",
        )


def _client_certificate(
    aws: Aws,
    request: OriginMtlsRequest,
    ca: ClientCertificateAuthority,
    current_arn: str | None,
    now: datetime,
) -> str:
    """The ACM ARN of a valid client certificate for the origin, importing if needed."""

    def good(certificate: x509.Certificate) -> bool:
        return is_origin_client_certificate(certificate, ca)

    replace: AcmCertificate | None = None
    keep_key_of = None
    if current_arn is not None:
        current = inspect_certificate(aws, current_arn, region=CLOUDFRONT_REGION)
        certificate = current.certificate
        if certificate is not None and issuing_ca(certificate, ca.authorities) is not None:
            if good(certificate):
                if not request.renew and not renewal_due(certificate, now):
                    return current_arn
                keep_key_of = certificate
            replace = current
    purpose = f"cloudfront-origin:{request.distribution_id}/{request.origin_id}"
    if replace is None:
        earlier = find_imported(
            aws,
            purpose=purpose,
            region=CLOUDFRONT_REGION,
            usable=lambda c: good(c) and not renewal_due(c, now) and has_key_spec(c, ca.key_spec),
        )
        if earlier is not None:
            return earlier
    spec = leaf_key_spec(ca.key_spec, ca.issuing_ca, keep_key_of)
    return import_client_certificate(
        aws,
        ca,
        distribution_id=request.distribution_id,
        origin_id=request.origin_id,
        replace=replace,
        spec=spec,
        now=now,
    )


def import_client_certificate(
    aws: Aws,
    ca: ClientCertificateAuthority,
    *,
    distribution_id: str,
    origin_id: str,
    replace: AcmCertificate | None,
    spec: KeySpec,
    now: datetime,
    in_place_only: bool = False,
) -> str:
    """Issue the origin's client certificate with a new ``spec`` key, check it against
    CloudFront's rules and import it into ACM in us-east-1, in place of ``replace`` when
    given: the one path of ``cloudfront origin-mtls`` and of maintenance's renewal
    (``infra.acm_renewal``)."""
    name = client_common_name(distribution_id, origin_id)
    aws.local(
        f"{'renew' if replace else 'issue'} a client certificate for CloudFront (CN={name}, {spec})"
    )
    material = None
    if not aws.dry_run:
        issued = ca.issue(name, spec)
        assert issued.private_key is not None
        material = ImportMaterial(issued.certificate, issued.private_key, issued.chain)
        check_client_certificate(
            issued.certificate, issued.chain, private_key_pem=material.private_key_pem()
        )
    return import_certificate(
        aws,
        material,
        purpose=f"cloudfront-origin:{distribution_id}/{origin_id}",
        region=CLOUDFRONT_REGION,
        replace=replace,
        key_spec=spec,
        now=now,
        in_place_only=in_place_only,
    )


def is_origin_client_certificate(
    certificate: x509.Certificate, ca: ClientCertificateAuthority
) -> bool:
    """Signed by one of the CA's certificates and within CloudFront's rules."""
    if issuing_ca(certificate, ca.authorities) is None:
        return False
    try:
        check_client_certificate(certificate, (ca.issuing_ca,))
    except CloudFrontRuleViolation:
        return False
    return True


def _deployed(aws: Aws, request: OriginMtlsRequest) -> bool:
    if aws.dry_run:
        return True  # a real run waits for the distribution before touching the listener
    wait = request.deploy_wait
    for attempt in range(wait.polls + 1):
        got = aws.read("cloudfront", "get_distribution", region=CLOUDFRONT_REGION,
                       Id=request.distribution_id)  # fmt: skip
        status = got["Distribution"].get("Status")
        if status == "Deployed":
            return True
        if attempt < wait.polls:
            wait.pause(
                f"CloudFront distribution {request.distribution_id} is {status}, not yet Deployed"
            )
    return False


def client_common_name(distribution_id: str, origin_id: str) -> str:
    """The common name of the origin's client certificate."""
    text = f"cloudfront-{distribution_id}-{origin_id}"
    return re.sub(r"[^A-Za-z0-9.-]", "-", text)[:64]
