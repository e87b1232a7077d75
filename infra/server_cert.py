"""The listener's server certificate, issued by albca's CA and kept in ACM.

The seed scenario: a Lambda function (or any internal client) calls an internal ALB over
HTTPS on a name of your own, and trusts albca's CA bundle instead of a public CA. albca
issues the certificate from the CA's server profile, imports it into ACM in the listener's
region and sets it as the listener's default certificate. On renewal it re-imports in
place (same ARN), so the listener itself does not change.

Decisions, in order:
- the listener's certificate is albca's (an imported certificate signed by one of the
  CA's certificates), covers the domain and is not due for renewal: nothing to do;
- it is albca's and covers the domain but is due (or ``renew``): issue, re-import in place
  with the same key type (ACM's re-import rules, ``infra.acm_rules``); a new key type or
  a certificate the rules refuse is imported as a new certificate the listener points at;
- anything else (a public ACM certificate, another domain): reuse the certificate an
  earlier run imported for the domain (its tag) if it is still good, else issue and import
  a new one; point the listener at it, retrying while ELBv2 does not see it yet.

The leaf's key type is the CA's algorithm unless ``key_spec`` says otherwise, and must be:
ACM refuses a leaf whose key algorithm is not its signing CA's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

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
from albca.infra.cert_checks import covers_dns_name, issuing_ca, renewal_due
from albca.infra.clients import region_of_arn
from albca.infra.listeners import Listener, modify_listener_params, read_listener, require_https
from albca.infra.waiting import Wait

__all__ = [
    "IssueServerCertificate",
    "IssuedServerCertificate",
    "FileServerCertificate",
    "set_listener_certificate",
]

IssueServerCertificate = Callable[[str, KeySpec], IssuedCertificate]
"""Issues a server certificate (with a new key of that type) for a DNS name from the CA."""


@dataclass(frozen=True)
class IssuedServerCertificate:
    """A certificate albca issues for ``domain`` when the listener needs one."""

    domain: str
    issue: IssueServerCertificate
    authorities: Sequence[x509.Certificate]  # the CA certificates that make one "albca's"
    signing_ca: x509.Certificate  # the issuing CA that signs now
    renew: bool = False
    key_spec: KeySpec | None = None  # None: the current certificate's, else the CA's algorithm
    propagation: Wait = field(default_factory=propagation_wait)

    def __post_init__(self) -> None:
        if self.key_spec is not None:  # refuse a key ACM will refuse before anything runs
            leaf_key_spec(self.key_spec, self.signing_ca)

    def certificate_arn(self, aws: Aws, listener: Listener, now: datetime) -> str:
        """The ARN the listener should use, importing into ACM when needed."""
        region = region_of_arn(listener.arn)
        replace: AcmCertificate | None = None
        if listener.certificate_arn is not None:
            current = inspect_certificate(aws, listener.certificate_arn, region=region)
            if current.certificate is not None and self.is_albcas(current.certificate):
                if not self.renew and not renewal_due(current.certificate, now):
                    return current.arn
                replace = current
        spec = leaf_key_spec(
            self.key_spec, self.signing_ca, replace.certificate if replace else None
        )
        purpose = f"alb-listener:{self.domain}"
        if replace is None:
            earlier = find_imported(
                aws,
                purpose=purpose,
                region=region,
                usable=lambda c: (
                    self.is_albcas(c) and not renewal_due(c, now) and has_key_spec(c, self.key_spec)
                ),
            )
            if earlier is not None:
                return earlier
        return self.issue_and_import(aws, region=region, replace=replace, spec=spec, now=now)

    def issue_and_import(
        self,
        aws: Aws,
        *,
        region: str | None,
        replace: AcmCertificate | None,
        spec: KeySpec,
        now: datetime,
        in_place_only: bool = False,
    ) -> str:
        """Issue a certificate for the domain with a new ``spec`` key and import it, in
        place of ``replace`` when given: the one path of ``alb server-cert`` and of
        maintenance's renewal (``infra.acm_renewal``)."""
        verb = "renew" if replace else "issue"
        aws.local(f"{verb} a server certificate for {self.domain} (profile server, {spec})")
        material = None
        if not aws.dry_run:
            issued = self.issue(self.domain, spec)
            assert issued.private_key is not None  # issued with a new key
            material = ImportMaterial(issued.certificate, issued.private_key, issued.chain)
        return import_certificate(
            aws,
            material,
            purpose=f"alb-listener:{self.domain}",
            region=region,
            replace=replace,
            key_spec=spec,
            now=now,
            in_place_only=in_place_only,
        )

    def is_albcas(self, certificate: x509.Certificate) -> bool:
        """Signed by one of the CA's certificates and for the domain."""
        return issuing_ca(certificate, self.authorities) is not None and covers_dns_name(
            certificate, self.domain
        )


@dataclass(frozen=True)
class FileServerCertificate:
    """A certificate and key the user brings (files), imported as they are."""

    material: ImportMaterial
    source: str
    propagation: Wait = field(default_factory=propagation_wait)

    def certificate_arn(self, aws: Aws, listener: Listener, now: datetime) -> str:
        region = region_of_arn(listener.arn)
        self.material.check(now, source=self.source)
        if listener.certificate_arn is not None:
            current = inspect_certificate(aws, listener.certificate_arn, region=region)
            if current.certificate == self.material.certificate:
                return current.arn
        purpose = "alb-listener:" + _first_name(self.material.certificate)
        earlier = find_imported(
            aws, purpose=purpose, region=region, usable=lambda c: c == self.material.certificate
        )
        if earlier is not None:  # imported by a run that could not set it
            return earlier
        return import_certificate(aws, self.material, purpose=purpose, region=region, now=now)


def set_listener_certificate(
    aws: Aws,
    listener_arn: str,
    source: IssuedServerCertificate | FileServerCertificate,
    now: datetime,
    *,
    change_listener: bool = True,
) -> str:
    """Give the HTTPS listener ``source``'s certificate as its default certificate, keeping
    its SSL policy and mutual TLS; returns the certificate ARN.

    ``change_listener=False``: a stack (CloudFormation, Copilot, Terraform) owns the
    listener, and a change made outside it is drift the next deployment undoes. The
    certificate is still imported or renewed in ACM (a renewal re-imports in place, so the
    stack's ARN keeps working); the caller hands the ARN to the stack."""
    listener = read_listener(aws, listener_arn)
    require_https(listener)
    arn = source.certificate_arn(aws, listener, now)
    if arn != listener.certificate_arn and not change_listener:
        aws.note(
            f"the listener is left as its stack made it: set its certificate to {arn} "
            "in the stack (CloudFormation, Copilot, Terraform) and deploy it"
        )
    elif arn != listener.certificate_arn:
        params = modify_listener_params(listener, certificate_arn=arn)
        retry_until_seen(
            aws, source.propagation, lambda: aws.change("elbv2", "modify_listener", **params)
        )
    return arn


def _first_name(certificate: x509.Certificate) -> str:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return names[0] if names else f"serial-{certificate.serial_number:x}"
