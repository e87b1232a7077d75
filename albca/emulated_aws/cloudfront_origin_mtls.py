"""A faithful fake of CloudFront origin mutual TLS and of ``IfMatch``, behind a real boto3
CloudFront client in front of moto.

moto 5.2 accepts ``CustomOriginConfig.OriginMtlsConfig`` and silently drops it, never
changes a distribution's ETag and takes any ``IfMatch`` value. This fake keeps what moto
drops and enforces what AWS documents, so the tests can see what albca sent:

- ``UpdateDistribution`` needs ``IfMatch`` (``InvalidIfMatchVersion``) equal to the
  distribution's current ETag (``PreconditionFailed``, HTTP 412); the fake's ETag changes
  with every successful update and is what Get/Create/UpdateDistribution(Config) return.
- ``OriginMtlsConfig.ClientCertificateArn`` (Create/UpdateDistribution) must name a
  certificate in ACM in us-east-1 that exists and meets CloudFront's rules for origin
  client certificates, stated here from CloudFront's documentation (never by calling
  albca's own ``infra.cloudfront_rules``, which is what the fake tests): X.509 v3, EKU
  clientAuth, RSA 2048 or EC P-256, SHA-256/384/512 with RSA or SHA-256 with ECDSA, chain
  depth <= 3, chain <= 64 KB. AWS documents the rules but not the error code; the fake
  answers ``InvalidArgument``, CloudFront's modelled error for a bad argument.
- The stored ``OriginMtlsConfig`` of each origin comes back from GetDistributionConfig,
  GetDistribution, CreateDistribution and UpdateDistribution; an update that leaves it out
  removes it, as a whole-config replacement does.

Not modelled: the time a real distribution takes to deploy (moto's InProgress ->
Deployed transition is kept), pricing plans, and the features origin mTLS excludes (gRPC,
WebSockets, VPC origins, Lambda@Edge origin triggers).
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from albca.emulated_aws.responses import error_response

__all__ = ["CloudFrontOriginMtlsFake", "install_cloudfront_fake"]

_SERVICE = "cloudfront"
_PARAMS = "albca_cloudfront_params"
_PENDING = "albca_cloudfront_pending"
_INSTALLED = "_albca_cloudfront_fake"
_ACM_ARN = re.compile(r"^arn:aws[a-z-]*:acm:us-east-1:\d{12}:certificate/[A-Za-z0-9-]+$")


@dataclass
class _Distribution:
    etag: str
    mtls: dict[str, str] = field(default_factory=dict)  # origin id -> certificate ARN


class CloudFrontOriginMtlsFake:
    """The state moto drops: ETags and each origin's client certificate ARN."""

    def __init__(self, acm_client: Any) -> None:
        self._acm = acm_client
        self._distributions: dict[str, _Distribution] = {}
        self._lock = threading.Lock()

    def client_certificate_arn(self, distribution_id: str, origin_id: str) -> str | None:
        with self._lock:
            distribution = self._distributions.get(distribution_id)
            return distribution.mtls.get(origin_id) if distribution else None

    def etag(self, distribution_id: str) -> str | None:
        with self._lock:
            distribution = self._distributions.get(distribution_id)
            return distribution.etag if distribution else None

    # -- checks ------------------------------------------------------------------------

    def check_origins(self, config: Mapping[str, Any]) -> dict[str, str]:
        """The origins' requested client certificate ARNs, each checked; raises
        ``_Refused`` for what CloudFront refuses."""
        wanted = {}
        for origin in config.get("Origins", {}).get("Items", []):
            mtls = origin.get("CustomOriginConfig", {}).get("OriginMtlsConfig")
            if not mtls:
                continue
            arn = str(mtls.get("ClientCertificateArn", ""))
            self._check_certificate(arn)
            wanted[origin["Id"]] = arn
        return wanted

    def _check_certificate(self, arn: str) -> None:
        if not _ACM_ARN.match(arn):
            raise _Refused(
                "InvalidArgument",
                f"The client certificate {arn} must be an ACM certificate in us-east-1",
            )
        try:
            got = self._acm.get_certificate(CertificateArn=arn)
        except ClientError:
            raise _Refused(
                "InvalidArgument", f"The client certificate {arn} does not exist"
            ) from None
        certificate = x509.load_pem_x509_certificate(got["Certificate"].encode())
        chain_pem = got.get("CertificateChain") or ""
        chain = x509.load_pem_x509_certificates(chain_pem.encode()) if chain_pem else []
        broken = _broken_origin_mtls_rule(certificate, chain)
        if broken is not None:
            raise _Refused(
                "InvalidArgument",
                f"The client certificate {arn} cannot be used for origin mTLS: {broken}",
            )

    # -- state ---------------------------------------------------------------------------

    def seen(self, distribution_id: str) -> _Distribution:
        with self._lock:
            distribution = self._distributions.get(distribution_id)
            if distribution is None:
                distribution = _Distribution(etag=_new_etag())
                self._distributions[distribution_id] = distribution
            return distribution

    def updated(self, distribution_id: str, mtls: dict[str, str]) -> None:
        with self._lock:
            self._distributions[distribution_id] = _Distribution(_new_etag(), dict(mtls))


# CloudFront developer guide, origin mutual TLS ("Certificate requirements"; AWS_NOTES.md,
# "CloudFront origin mutual TLS"): X.509 v3 with extended key usage clientAuth; an RSA
# 2048 or ECDSA P-256 key; signed with SHA-256/384/512 with RSA or SHA-256 with ECDSA; a
# chain of at most 3 certificates (leaf, intermediate, root) and 64 KB.
_ORIGIN_MTLS_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_SHA256,
    SignatureAlgorithmOID.RSA_WITH_SHA384,
    SignatureAlgorithmOID.RSA_WITH_SHA512,
    SignatureAlgorithmOID.ECDSA_WITH_SHA256,
}
_ORIGIN_MTLS_CHAIN_DEPTH = 3
_ORIGIN_MTLS_CHAIN_BYTES = 64 * 1024


def _broken_origin_mtls_rule(
    certificate: x509.Certificate, chain: list[x509.Certificate]
) -> str | None:
    """The first CloudFront rule the certificate (with the chain ACM holds) breaks."""
    if any(c.version != x509.Version.v3 for c in (certificate, *chain)):
        return "not X.509 v3"
    try:
        usages = list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    except x509.ExtensionNotFound:
        usages = []
    if ExtendedKeyUsageOID.CLIENT_AUTH not in usages:
        return "no clientAuth extended key usage"
    key = certificate.public_key()
    rsa_2048 = isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048
    p_256 = isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)
    if not (rsa_2048 or p_256):
        return "the key is neither RSA 2048 nor ECDSA P-256"
    # The path from the leaf up through the chain ACM holds; a root's self-signature is
    # not a signature CloudFront verifies, every other one must use an accepted algorithm.
    path = [certificate]
    while path[-1].issuer != path[-1].subject:
        parent = next((c for c in chain if c not in path and _signed_by(path[-1], c)), None)
        if parent is None:
            break
        path.append(parent)
    for member in path:
        if member.issuer != member.subject and (
            member.signature_algorithm_oid not in _ORIGIN_MTLS_SIGNATURES
        ):
            return f"{member.subject.rfc4514_string()} has a signature CloudFront refuses"
    # "leaf, intermediate, root": the root counts even when ACM's chain leaves it out.
    depth = len(path) + (0 if path[-1].issuer == path[-1].subject else 1)
    if depth > _ORIGIN_MTLS_CHAIN_DEPTH:
        return f"a chain of {depth} certificates"
    size = sum(len(c.public_bytes(serialization.Encoding.PEM)) for c in (certificate, *chain))
    if size > _ORIGIN_MTLS_CHAIN_BYTES:
        return f"a chain of {size} bytes"
    return None


def _signed_by(certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
    if certificate.issuer != issuer.subject:
        return False
    try:
        certificate.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


class _Refused(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def _new_etag() -> str:
    return "E" + secrets.token_hex(6).upper()


def install_cloudfront_fake(
    cloudfront_client: Any,
    acm_client: Any = None,
    *,
    fake: CloudFrontOriginMtlsFake | None = None,
) -> CloudFrontOriginMtlsFake:
    """Put the fake behind ``cloudfront_client``; ``acm_client`` (us-east-1) is where it
    looks up client certificates; pass ``fake`` to share one state between clients."""
    service = cloudfront_client.meta.service_model.service_id.hyphenize()
    if service != _SERVICE:
        raise TypeError(f"cloudfront_client must be a CloudFront client, not {service}")
    if getattr(cloudfront_client, _INSTALLED, None) is not None:
        raise ValueError("the CloudFront fake is already installed on this client")
    if fake is None:
        if acm_client is None:
            raise TypeError("give acm_client (the fake reads client certificates) or fake")
        fake = CloudFrontOriginMtlsFake(acm_client)
    setattr(cloudfront_client, _INSTALLED, fake)
    hooks = _Hooks(fake, cloudfront_client)
    events = cloudfront_client.meta.events
    events.register(f"before-parameter-build.{_SERVICE}", _remember_params)
    for operation in ("CreateDistribution", "CreateDistributionWithTags"):
        events.register(f"before-call.{_SERVICE}.{operation}", hooks.check_create)
    events.register(f"before-call.{_SERVICE}.UpdateDistribution", hooks.check_update)
    for operation in (
        "CreateDistribution",
        "CreateDistributionWithTags",
        "UpdateDistribution",
        "GetDistribution",
        "GetDistributionConfig",
    ):
        events.register(f"after-call.{_SERVICE}.{operation}", hooks.show)
    return fake


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = params


class _Hooks:
    def __init__(self, fake: CloudFrontOriginMtlsFake, client: Any) -> None:
        self._fake = fake
        self._client = client

    def check_create(
        self, context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        params = context.get(_PARAMS, {})
        config = params.get("DistributionConfig") or params.get(
            "DistributionConfigWithTags", {}
        ).get("DistributionConfig", {})
        try:
            context[_PENDING] = self._fake.check_origins(config)
        except _Refused as refused:
            return error_response(refused.code, refused.message, status=refused.status)
        return None

    def check_update(
        self, context: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        params = context.get(_PARAMS, {})
        distribution_id = params["Id"]
        if self._fake.etag(distribution_id) is None:
            try:  # first sight of it: the after-call hook gives it an ETag
                self._client.get_distribution_config(Id=distribution_id)
            except ClientError:
                return None  # moto answers NoSuchDistribution
        try:
            if not params.get("IfMatch"):
                raise _Refused("InvalidIfMatchVersion", "The If-Match version is missing")
            if params["IfMatch"] != self._fake.etag(distribution_id):
                raise _Refused(
                    "PreconditionFailed",
                    "The precondition given in one or more of the request-header fields "
                    "evaluated to false",
                    status=412,
                )
            context[_PENDING] = self._fake.check_origins(params["DistributionConfig"])
        except _Refused as refused:
            return error_response(refused.code, refused.message, status=refused.status)
        return None

    def show(
        self,
        http_response: AWSResponse,
        parsed: dict[str, Any],
        context: dict[str, Any],
        model: Any,
        **_: Any,
    ) -> None:
        if http_response.status_code >= 300:
            return
        if "DistributionConfig" in parsed:
            config, distribution_id = parsed["DistributionConfig"], context[_PARAMS]["Id"]
        elif "Distribution" in parsed:
            distribution = parsed["Distribution"]
            config, distribution_id = distribution["DistributionConfig"], distribution["Id"]
        else:
            return
        pending = context.get(_PENDING)
        if pending is not None:  # a create or update went through
            self._fake.updated(distribution_id, pending)
        state = self._fake.seen(distribution_id)
        parsed["ETag"] = state.etag
        for origin in config.get("Origins", {}).get("Items", []):
            custom = origin.get("CustomOriginConfig")
            if custom is None:
                continue
            arn = state.mtls.get(origin["Id"])
            if arn is None:
                custom.pop("OriginMtlsConfig", None)
            else:
                custom["OriginMtlsConfig"] = {"ClientCertificateArn": arn}
