"""Proof that a caller holds a certificate this CA issued: the two ways to renew.

(a) An ALB listener in mTLS verify mode has already checked the client certificate and
    passes it on in ``X-Amzn-Mtls-Clientcert-Leaf`` (URL-encoded PEM). Those headers are
    believed only when the deployment says the API sits behind such a listener; otherwise
    anyone could send them, so they are refused outright.
(b) Anywhere else, a short-lived JWS signed with the certificate's own key and carrying
    the certificate in its ``x5c`` header, as smallstep's X5C provisioner does
    (RFC 7515 section 4.1.6). Checked: the signature against the leaf's key with the one
    algorithm that key implies, ``aud``, ``iat``/``nbf``/``exp`` against the authority's
    clock with a maximum lifetime, and one-time use of ``jti``.

Why PyJWT rather than code of our own: JWS has well-known traps (``alg: none``, algorithm
confusion between HMAC and public keys, ECDSA signatures as raw r||s rather than DER,
base64url without padding), and PyJWT is small, widely used, built on cryptography and
handles each of them. We pin the algorithm to the certificate's key type, so the token
cannot choose it.

Either way, the certificate must chain to this CA (checked with
``cryptography.x509.verification``), be the very certificate on record for its serial, and
be unexpired and unrevoked (``Authority.renewable``).
"""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509 import verification

from albca.api.errors import InvalidRenewalProof, RenewalTokenTime, UntrustedMtlsHeaders
from albca.api.services import ApiSettings
from albca.ca.authority import Authority
from albca.ca.errors import NotRenewable
from albca.ca.renewal_token import EC_ALGORITHMS, RSA_ALGORITHMS

__all__ = ["Holder", "holder_from_alb_headers", "holder_from_renewal_token", "verify_issued_here"]

_MAX_X5C = 4  # leaf and at most the chain an ALB accepts (depth 4)
_MAX_CERT_BYTES = 16 * 1024  # the ALB's limit per certificate
_MAX_JTI = 128


@dataclass(frozen=True)
class Holder:
    """A caller that proved it holds ``certificate``; ``proof`` says how."""

    certificate: x509.Certificate
    proof: str  # "alb-mtls" or "x5c-token"
    token_id: str | None = None  # the jti, for the replay guard
    # Until when the token is accepted (exp plus the clock-skew leeway): the replay guard
    # must remember its jti at least that long, or it could be spent twice.
    token_accepted_until: datetime | None = None

    @property
    def serial(self) -> int:
        return self.certificate.serial_number

    @property
    def actor(self) -> str:
        return f"holder:{self.serial:x}"


def holder_from_alb_headers(
    headers: Mapping[str, str], settings: ApiSettings, authority: Authority
) -> Holder | None:
    """The holder the ALB vouches for, None if no mTLS header came, or a refusal."""
    names = settings.alb_headers
    present = [name for name in names.names if name.lower() in headers]
    if not present:
        return None
    if not settings.behind_alb_mtls:
        raise UntrustedMtlsHeaders(
            f"{present[0]}: this API is not configured as sitting behind an ALB in mTLS "
            "verify mode, so client certificate headers are not believed; renew with a "
            "renewal token instead",
            field=present[0],
        )
    leaf_text = headers.get(names.leaf.lower())
    if leaf_text is None:
        raise InvalidRenewalProof(
            f"{names.leaf}: missing; the listener must pass the client certificate",
            field=names.leaf,
        )
    # The ALB leaves '+', '=' and '/' as they are: unquote_plus would turn base64's '+'
    # into a space (AWS_NOTES.md).
    pem = urllib.parse.unquote(leaf_text)
    try:
        leaf = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise InvalidRenewalProof(
            f"{names.leaf}: not a URL-encoded PEM certificate", field=names.leaf
        ) from None
    serial_text = headers.get(names.serial_number.lower())
    if serial_text is not None and _hex_int(serial_text) != leaf.serial_number:
        raise InvalidRenewalProof(
            f"{names.serial_number}: does not match the certificate in {names.leaf}",
            field=names.serial_number,
        )
    verify_issued_here(leaf, authority)
    return Holder(certificate=leaf, proof="alb-mtls")


def holder_from_renewal_token(token: str, settings: ApiSettings, authority: Authority) -> Holder:
    """The holder a renewal token proves, or ``InvalidRenewalProof`` saying what failed."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise InvalidRenewalProof("Authorization: not a JWS renewal token") from None
    leaf = _leaf_of(header)
    algorithm = _algorithm_for(leaf, header.get("alg"))
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=leaf.public_key(),  # type: ignore[arg-type]
            algorithms=[algorithm],
            audience=settings.renewal_audience,
            # Times are checked below against the authority's clock, not time.time().
            options={
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "require": ["exp", "iat", "jti", "aud"],
            },
        )
    except jwt.InvalidAudienceError:
        raise InvalidRenewalProof(
            "Authorization: the renewal token's aud is not this API "
            f"({settings.renewal_audience!r})"
        ) from None
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidRenewalProof(
            f"Authorization: the renewal token has no {exc.claim} claim"
        ) from None
    except jwt.InvalidSignatureError:
        raise InvalidRenewalProof(
            "Authorization: the renewal token's signature does not verify with the key of "
            "the certificate in its x5c header"
        ) from None
    except jwt.PyJWTError as exc:
        raise InvalidRenewalProof(f"Authorization: invalid renewal token: {exc}") from None
    expires_at = _check_times(claims, settings, authority.now())
    jti = claims["jti"]
    if not isinstance(jti, str) or not 0 < len(jti) <= _MAX_JTI:
        raise InvalidRenewalProof(f"Authorization: jti must be a string of 1-{_MAX_JTI} chars")
    verify_issued_here(leaf, authority)
    return Holder(
        certificate=leaf,
        proof="x5c-token",
        token_id=jti,
        token_accepted_until=expires_at + settings.renewal_token_leeway,
    )


def _leaf_of(header: Mapping[str, Any]) -> x509.Certificate:
    chain = header.get("x5c")
    if not isinstance(chain, list) or not 1 <= len(chain) <= _MAX_X5C:
        raise InvalidRenewalProof(
            "Authorization: the renewal token needs an x5c header: the certificate being "
            "renewed first, base64 DER"
        )
    first = chain[0]
    if not isinstance(first, str) or len(first) > _MAX_CERT_BYTES * 4 // 3 + 4:
        raise InvalidRenewalProof("Authorization: x5c[0] is not a base64 certificate")
    try:
        # x5c is standard base64 (RFC 7515 section 4.1.6), not base64url.
        return x509.load_der_x509_certificate(base64.b64decode(first, validate=True))
    except (ValueError, binascii.Error):
        raise InvalidRenewalProof("Authorization: x5c[0] is not a DER certificate") from None


def _algorithm_for(leaf: x509.Certificate, claimed: object) -> str:
    key = leaf.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        expected = EC_ALGORITHMS.get(key.curve.name)
        if expected is not None and claimed == expected:
            return expected
        raise InvalidRenewalProof(
            f"Authorization: alg {claimed!r} does not fit the certificate's "
            f"{key.curve.name} key (expected {expected})"
        )
    if isinstance(key, rsa.RSAPublicKey) and claimed in RSA_ALGORITHMS:
        return str(claimed)
    raise InvalidRenewalProof(f"Authorization: alg {claimed!r} does not fit the certificate's key")


def _numeric(claims: Mapping[str, Any], name: str) -> datetime:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRenewalProof(f"Authorization: {name} must be a NumericDate (seconds)")
    try:
        return datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise InvalidRenewalProof(f"Authorization: {name} is out of range") from None


def _check_times(claims: Mapping[str, Any], settings: ApiSettings, now: datetime) -> datetime:
    leeway = settings.renewal_token_leeway
    issued_at = _numeric(claims, "iat")
    expires_at = _numeric(claims, "exp")
    # The CA's time in each refusal: the usual cause is a holder clock that is off.
    clock = f"; the CA's clock reads {now.isoformat()}"
    if issued_at > now + leeway:
        raise RenewalTokenTime(
            f"Authorization: the renewal token's iat is in the future ({issued_at.isoformat()})"
            + clock
        )
    if "nbf" in claims and _numeric(claims, "nbf") > now + leeway:
        raise RenewalTokenTime("Authorization: the renewal token is not valid yet (nbf)" + clock)
    if expires_at <= now - leeway:
        raise RenewalTokenTime(
            f"Authorization: the renewal token expired at {expires_at.isoformat()}" + clock
        )
    limit = settings.renewal_token_max_lifetime
    if expires_at - issued_at > limit:
        raise InvalidRenewalProof(
            f"Authorization: the renewal token lives longer than the allowed "
            f"{int(limit / timedelta(seconds=1))} s (exp - iat)"
        )
    return expires_at


def verify_issued_here(leaf: x509.Certificate, authority: Authority) -> None:
    """The certificate chains to this CA's trust anchors through its own issuing CAs.

    Intermediates a client sends along are ignored: only this CA's own issuing CAs count.
    The leaf's extensions are not re-checked against Web PKI rules (``permit_all``): client
    certificates without a SAN and server certificates without clientAuth are both ours to
    renew; what this CA issued is the record's business, which ``renewable`` checks.
    """
    now = authority.now()
    if now >= leaf.not_valid_after_utc:
        raise NotRenewable(
            f"certificate {leaf.serial_number:x} expired at "
            f"{leaf.not_valid_after_utc.isoformat()} and cannot be renewed; request a new one",
            serial=leaf.serial_number,
            reason="expired",
        )
    trusted = authority.trusted_certificates()
    roots = [cert for cert in trusted if cert.issuer == cert.subject]
    intermediates = [cert for cert in trusted if cert.issuer != cert.subject]
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(roots))
        .time(now)
        .extension_policies(
            ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=verification.ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError:
        raise InvalidRenewalProof(
            f"certificate {leaf.serial_number:x} was not issued by this CA (its chain does "
            "not verify against this CA's trust anchors)"
        ) from None


def _hex_int(text: str) -> int | None:
    try:
        return int(text.replace(":", ""), 16)
    except ValueError:
        return None
