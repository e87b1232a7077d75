"""Renewing, in place, a certificate albca imported into ACM: what maintenance runs.

ACM never renews an imported certificate (ACM User Guide, "Reimport a certificate"), so
albca re-imports before expiry, under the same ``CertificateArn``: the listener or the
distribution that uses the ARN picks up the new certificate without being touched, which
is also what a stack-owned listener (``alb server-cert --stack-owned``) needs.

What the certificate is for comes from its ``albca:managed-by`` tag (``infra.acm``):
``alb-listener:<domain>`` is renewed through ``IssuedServerCertificate.issue_and_import``
(the path of ``albca alb server-cert``), ``cloudfront-origin:<distribution>/<origin>``
through ``import_client_certificate`` (the path of ``albca cloudfront origin-mtls``).

The key. albca keeps no key of a certificate it imports: ``issue_with_new_key`` hands the
key back once, it goes to ACM and nowhere else (ACM's ``ExportCertificate`` works only for
private CA certificates). So a renewal issues a new key of the SAME type and size, which
a re-import allows: the rules are the key type and size, and Key Usage / Extended Key
Usage values (AWS_NOTES, "ACM"; ``infra.acm_rules``). When the CA signing now has the
other algorithm (an RSA CA rotated to EC), no in-place renewal can meet both ACM rules
(same key type on re-import; leaf algorithm = its CA's): it is refused, naming the
command that imports a new certificate and points its user at it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from albca.ca.errors import UnsupportedKey
from albca.ca.keys import KeySpec, key_spec_of
from albca.infra.acm import inspect_certificate
from albca.infra.acm_inventory import command_for
from albca.infra.acm_rules import key_algorithm, leaf_key_spec
from albca.infra.calls import Aws
from albca.infra.clients import region_of_arn
from albca.infra.cloudfront_origin import (
    ClientCertificateAuthority,
    import_client_certificate,
    is_origin_client_certificate,
)
from albca.infra.cloudfront_rules import check_ca_for_cloudfront
from albca.infra.errors import SetupRefused
from albca.infra.server_cert import IssuedServerCertificate, IssueServerCertificate

__all__ = ["RenewalCa", "renew_in_place"]

_RULE = "an ACM certificate albca manages is renewed in place"


@dataclass(frozen=True)
class RenewalCa:
    """albca's CA as a renewal needs it: the client certificate authority (the signing
    CA, its chain up to the root, every certificate that makes one "albca's", the client
    issuer) and the server certificate issuer."""

    client: ClientCertificateAuthority
    issue_server: IssueServerCertificate

    @property
    def signing_ca(self) -> x509.Certificate:
        return self.client.issuing_ca


def renew_in_place(
    aws: Aws,
    arn: str,
    *,
    purpose: str,
    ca: RenewalCa,
    due: Callable[[x509.Certificate], bool],
    now: datetime,
) -> x509.Certificate | None:
    """Re-import the certificate at ``arn`` (for ``purpose``: its ``albca:managed-by``
    tag, decoded) with a new one from ``ca`` if ``due`` says the certificate ACM holds
    now is due; None when it is not (another run renewed it first). Returns the
    certificate it replaced."""
    region = region_of_arn(arn)
    current = inspect_certificate(aws, arn, region=region)
    old = current.certificate
    if old is None:
        raise SetupRefused(f"{arn} is not an imported certificate: ACM renews it", rule=_RULE)
    if not due(old):
        return None
    spec = _same_key_type(arn, old, ca.signing_ca, purpose)
    kind, _, what = purpose.partition(":")
    if kind == "alb-listener":
        source = IssuedServerCertificate(
            domain=what,
            issue=ca.issue_server,
            authorities=ca.client.authorities,
            signing_ca=ca.signing_ca,
        )
        if not source.is_albcas(old):
            raise _not_albcas(arn, purpose, f"a certificate for {what} from this CA")
        source.issue_and_import(
            aws, region=region, replace=current, spec=spec, now=now, in_place_only=True
        )
    elif kind == "cloudfront-origin":
        distribution, _, origin = what.partition("/")
        if not is_origin_client_certificate(old, ca.client):
            raise _not_albcas(arn, purpose, "a CloudFront client certificate from this CA")
        check_ca_for_cloudfront(ca.signing_ca, ca.client.above, spec)
        import_client_certificate(
            aws,
            ca.client,
            distribution_id=distribution,
            origin_id=origin,
            replace=current,
            spec=spec,
            now=now,
            in_place_only=True,
        )
    else:
        raise SetupRefused(
            f"{arn} is tagged albca:managed-by={purpose}, which albca does not know how to renew",
            rule=_RULE,
        )
    return old


def _same_key_type(
    arn: str, old: x509.Certificate, signing_ca: x509.Certificate, purpose: str
) -> KeySpec:
    """The old certificate's key type, which the re-import must keep, if the CA signing
    now can sign a leaf of that algorithm (ACM: the leaf's algorithm is its CA's)."""
    try:
        spec = key_spec_of(old.public_key())
    except UnsupportedKey as exc:
        raise SetupRefused(f"{arn}: {exc.message}", rule=_RULE) from exc
    if leaf_key_spec(None, signing_ca, old) != spec:
        raise SetupRefused(
            f"{arn} has an {spec.value} key but the CA signing now has an "
            f"{key_algorithm(signing_ca.public_key())} key: ACM keeps the key type on a "
            "re-import and wants the leaf's algorithm to be its CA's, so it cannot be "
            f"renewed in place; import a new one with `{command_for(purpose)}`",
            rule=_RULE,
        )
    return spec


def _not_albcas(arn: str, purpose: str, wanted: str) -> SetupRefused:
    return SetupRefused(
        f"{arn} ({purpose}) is no longer {wanted}: albca leaves it alone; import a new one "
        f"with `{command_for(purpose)}`",
        rule=_RULE,
    )
