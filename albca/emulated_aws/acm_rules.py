"""ACM's import rules moto does not enforce, in front of a real boto3 ACM client; and the
moment after an import when ELBv2 and CloudFront do not see the new certificate yet.

moto 5.2 imports whatever it is given. AWS refuses, and albca must not depend on moto's
leniency (AWS_NOTES, "ACM"), so the fake states each rule itself, from the documents:

- ``ImportCertificate``: the leaf's key algorithm (RSA or EC) must be the algorithm of the
  CA that signed it, found in ``CertificateChain`` by the leaf's issuer name (ImportCertificate
  API reference; a self-signed leaf is its own CA). AWS documents the rule, not the error
  code: the fake answers ``ValidationException``.
- A re-import in place (``CertificateArn`` given; ACM User Guide, "Reimport a certificate",
  and "Prerequisites for importing ACM certificates"): the key type and size cannot change;
  where the old certificate has Key Usage or Extended Key Usage values, none may be
  removed (except keyEncipherment from an ECDSA certificate, RFC 5480 section 3, and the
  clientAuth EKU, both named in the guide as exceptions); an extension the old certificate
  did not have cannot be added; no tags may be applied. The code is not documented either:
  ``ValidationException``.
- ``ImportCertificate`` and ``AddTagsToCertificate`` tags: keys (1-128) and values (0-256)
  match ``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*`` (ACM API reference, "Tag"; botocore's model holds
  the same pattern, which botocore does not check client-side). Python's ``re`` has no
  ``\\p{..}``: the rule is stated with ``unicodedata`` categories (L*, Z*, N*) plus those
  seven characters. A mismatch is ``ValidationException``, as AWS's request validation
  answers a pattern constraint.

Propagation (``install_acm_propagation`` on ELBv2 and CloudFront clients): right after an
import, ModifyListener/CreateListener/AddListenerCertificates may answer
``CertificateNotFound`` and CloudFront ``InvalidViewerCertificate`` for the new ARN
(terraform-provider-aws retries both: its issues 3901, 10294, 41789 and pull request
4698). ``AcmFake(unseen_uses=N)`` answers so for the first N uses of each ARN a hooked ACM
client newly imported; 0 (the default) never does.
"""

from __future__ import annotations

import copy
import threading
import unicodedata
from collections.abc import Iterable
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from albca.emulated_aws.responses import error_response

__all__ = ["AcmFake", "install_acm_rules", "install_acm_propagation", "acm_tag_text_ok"]

_ACM = "acm"
_PARAMS = "albca_acm_params"
_INSTALLED = "_albca_acm_rules"
_PROPAGATION_INSTALLED = "_albca_acm_propagation"
Answer = tuple[AWSResponse, dict[str, Any]] | None

# ACM API reference, "Tag": the characters a tag key or value may hold beside letters
# (\p{L}), separators (\p{Z}) and numbers (\p{N}).
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_KEY_USAGES = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def acm_tag_text_ok(text: str) -> bool:
    """``[\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*``, stated with Unicode general categories."""
    return all(unicodedata.category(char)[0] in "LZN" or char in _TAG_PUNCTUATION for char in text)


class AcmFake:
    """State shared by the hooked clients: the ARNs a hooked ACM client imported that
    ELBv2/CloudFront should not see yet, with how many uses remain unseen."""

    def __init__(self, *, unseen_uses: int = 0) -> None:
        if unseen_uses < 0:
            raise ValueError("unseen_uses must be >= 0")
        self.unseen_uses = unseen_uses
        self._unseen: dict[str, int] = {}
        self._lock = threading.Lock()

    def imported(self, arn: str) -> None:
        with self._lock:
            if self.unseen_uses:
                self._unseen[arn] = self.unseen_uses

    def use(self, arn: str) -> bool:
        """Whether a service sees ``arn`` at this use (each use counts)."""
        with self._lock:
            left = self._unseen.get(arn, 0)
            if left <= 0:
                return True
            self._unseen[arn] = left - 1
            return False


def install_acm_rules(acm_client: Any, *, fake: AcmFake | None = None) -> AcmFake:
    """Install the import and tag rules on ``acm_client``; pass ``fake`` to share the
    propagation state with other clients. Returns the fake."""
    service = acm_client.meta.service_model.service_id.hyphenize()
    if service != _ACM:
        raise TypeError(f"acm_client must be an ACM client, not {service}")
    if getattr(acm_client, _INSTALLED, None) is not None:
        raise ValueError("the ACM rules are already installed on this client")
    fake = fake or AcmFake()
    setattr(acm_client, _INSTALLED, fake)
    rules = _Rules(acm_client, fake)
    events = acm_client.meta.events
    events.register(f"before-parameter-build.{_ACM}", _remember_params)
    events.register(f"before-call.{_ACM}.ImportCertificate", rules.check_import)
    events.register(f"before-call.{_ACM}.AddTagsToCertificate", rules.check_tags)
    events.register(f"after-call.{_ACM}.ImportCertificate", rules.remember_import)
    return fake


def install_acm_propagation(client: Any, *, fake: AcmFake) -> None:
    """Make an ELBv2 or CloudFront ``client`` refuse a newly imported certificate for the
    first ``fake.unseen_uses`` uses of its ARN."""
    service = client.meta.service_model.service_id.hyphenize()
    if getattr(client, _PROPAGATION_INSTALLED, None) is not None:
        raise ValueError("ACM propagation is already installed on this client")
    setattr(client, _PROPAGATION_INSTALLED, fake)
    events = client.meta.events
    events.register(f"before-parameter-build.{service}", _remember_params)
    if service == "elastic-load-balancing-v2":
        for operation in ("CreateListener", "ModifyListener", "AddListenerCertificates"):
            events.register(f"before-call.{service}.{operation}", _ListenerUse(fake))
    elif service == "cloudfront":
        for operation in ("CreateDistribution", "UpdateDistribution"):
            events.register(f"before-call.{service}.{operation}", _DistributionUse(fake))
    else:
        raise TypeError(f"client must be an ELBv2 or CloudFront client, not {service}")


def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    context[_PARAMS] = copy.deepcopy(params)


class _ListenerUse:
    def __init__(self, fake: AcmFake) -> None:
        self._fake = fake

    def __call__(self, context: dict[str, Any], **_: Any) -> Answer:
        certificates = context.get(_PARAMS, {}).get("Certificates") or []
        for arn in (c.get("CertificateArn") for c in certificates):
            if arn and not self._fake.use(arn):
                # The message ELBv2 gives (terraform-provider-aws issue 3901).
                return error_response("CertificateNotFound", f"Certificate '{arn}' not found")
        return None


class _DistributionUse:
    def __init__(self, fake: AcmFake) -> None:
        self._fake = fake

    def __call__(self, context: dict[str, Any], **_: Any) -> Answer:
        config = context.get(_PARAMS, {}).get("DistributionConfig") or {}
        arns = [config.get("ViewerCertificate", {}).get("ACMCertificateArn")]
        for origin in config.get("Origins", {}).get("Items", []):
            mtls = origin.get("CustomOriginConfig", {}).get("OriginMtlsConfig", {})
            arns.append(mtls.get("ClientCertificateArn"))
        for arn in arns:
            if arn and not self._fake.use(arn):
                # The message CloudFront gives (terraform-provider-aws pull request 4698).
                return error_response(
                    "InvalidViewerCertificate",
                    "The specified SSL certificate doesn't exist, isn't in us-east-1 region, "
                    "isn't valid, or doesn't include a valid certificate chain.",
                )
        return None


class _Rules:
    def __init__(self, client: Any, fake: AcmFake) -> None:
        self._client = client
        self._fake = fake

    def check_tags(self, context: dict[str, Any], **_: Any) -> Answer:
        return _tag_refusal(context.get(_PARAMS, {}).get("Tags") or [])

    def check_import(self, context: dict[str, Any], **_: Any) -> Answer:
        params = context.get(_PARAMS, {})
        refused = _tag_refusal(params.get("Tags") or [])
        if refused is not None:
            return refused
        try:
            leaf = x509.load_pem_x509_certificate(_bytes(params["Certificate"]))
            chain = (
                x509.load_pem_x509_certificates(_bytes(params["CertificateChain"]))
                if (params.get("CertificateChain"))
                else []
            )
        except ValueError:
            return None  # moto answers unreadable PEM
        refused = _algorithm_refusal(leaf, chain)
        if refused is not None or "CertificateArn" not in params:
            return refused
        if params.get("Tags"):
            return _validation("You cannot apply tags when reimporting a certificate.")
        try:
            old_pem = self._client.get_certificate(CertificateArn=params["CertificateArn"])
        except ClientError:
            return None  # moto answers ResourceNotFoundException
        old = x509.load_pem_x509_certificate(old_pem["Certificate"].encode())
        return _reimport_refusal(old, leaf)

    def remember_import(
        self, http_response: AWSResponse, parsed: dict[str, Any], context: dict[str, Any], **_: Any
    ) -> None:
        if http_response.status_code < 300 and "CertificateArn" not in context.get(_PARAMS, {}):
            self._fake.imported(parsed["CertificateArn"])


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else value


def _validation(message: str) -> Answer:
    return error_response("ValidationException", message)


def _tag_refusal(tags: Iterable[dict[str, str]]) -> Answer:
    for number, tag in enumerate(tags, start=1):
        for field, text in (("key", tag.get("Key", "")), ("value", tag.get("Value", ""))):
            if not acm_tag_text_ok(text):
                # AWS's request validation message for a pattern constraint.
                return _validation(
                    f"1 validation error detected: Value '{text}' at 'tags.{number}.member."
                    f"{field}' failed to satisfy constraint: Member must satisfy regular "
                    "expression pattern: [\\p{L}\\p{Z}\\p{N}_.:/=+\\-@]*"
                )
    return None


def _algorithm(certificate: x509.Certificate) -> str:
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "EC"
    return type(key).__name__


def _key_type(certificate: x509.Certificate) -> str:
    """ACM's KeyAlgorithm names: RSA_2048, EC_prime256v1, ..."""
    key = certificate.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA_{key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC_{key.curve.name}"
    return type(key).__name__


def _algorithm_refusal(leaf: x509.Certificate, chain: list[x509.Certificate]) -> Answer:
    signer = leaf if leaf.issuer == leaf.subject else None
    signer = next((ca for ca in chain if ca.subject == leaf.issuer), signer)
    if signer is None:
        return None  # the signing CA was not given: nothing to compare with
    if _algorithm(leaf) != _algorithm(signer):
        return _validation(
            f"The certificate's key algorithm ({_algorithm(leaf)}) does not match the "
            f"algorithm of the CA that signed it ({_algorithm(signer)})."
        )
    return None


def _reimport_refusal(old: x509.Certificate, new: x509.Certificate) -> Answer:
    if _key_type(old) != _key_type(new):
        return _validation(
            f"The key type and size cannot change on reimport ({_key_type(old)} to "
            f"{_key_type(new)})."
        )
    old_usage, new_usage = _key_usages(old), _key_usages(new)
    if old_usage is None and new_usage is not None:
        return _validation("A Key Usage extension cannot be added on reimport.")
    if old_usage is not None:
        dropped = old_usage - (new_usage or set())
        if isinstance(new.public_key(), ec.EllipticCurvePublicKey):
            dropped.discard("key_encipherment")  # the guide's RFC 5480 exception
        if dropped:
            return _validation(f"Key Usage values cannot be removed on reimport: {sorted(dropped)}")
    old_eku, new_eku = _extended_key_usages(old), _extended_key_usages(new)
    if old_eku is None and new_eku is not None:
        return _validation("An Extended Key Usage extension cannot be added on reimport.")
    if old_eku is not None:
        dropped_eku = old_eku - (new_eku or set())
        dropped_eku.discard(ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string)  # the exception
        if dropped_eku:
            return _validation(
                f"Extended Key Usage values cannot be removed on reimport: {sorted(dropped_eku)}"
            )
    return None


def _key_usages(certificate: x509.Certificate) -> set[str] | None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None
    found = {name for name in _KEY_USAGES if getattr(usage, name)}
    if usage.key_agreement:
        found |= {n for n in ("encipher_only", "decipher_only") if getattr(usage, n)}
    return found


def _extended_key_usages(certificate: x509.Certificate) -> set[str] | None:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return {oid.dotted_string for oid in usage}
