"""The listener's server certificate, issued by albca's CA and kept in ACM.

The seed scenario: a Lambda function (or any internal client) calls an internal ALB over
HTTPS on a name of your own, and trusts albca's CA bundle instead of a public CA. albca
issues the certificate from the CA's server profile, imports it into ACM in the listener's
region and sets it as the listener's default certificate. On renewal it re-imports in
place (same ARN), so the listener itself does not change.

Decisions, in order:
- the listener's certificate is albca's (an imported certificate signed by one of the
  CA's certificates), covers the domain and is not due for renewal: nothing to do;
- it is albca's and covers the domain but is due (or ``renew``): issue, re-import in place;
- anything else (a public ACM certificate, another domain): issue, import a new one, and
  point the listener at it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509

from albca.ca.issued import IssuedCertificate
from albca.infra.acm import ImportMaterial, import_certificate, inspect_certificate
from albca.infra.calls import Aws
from albca.infra.cert_checks import covers_dns_name, issuing_ca, renewal_due
from albca.infra.clients import region_of_arn
from albca.infra.listeners import Listener, modify_listener_params, read_listener, require_https

__all__ = [
    "IssueServerCertificate",
    "IssuedServerCertificate",
    "FileServerCertificate",
    "set_listener_certificate",
]

IssueServerCertificate = Callable[[str], IssuedCertificate]
"""Issues a server certificate (with a new key) for a DNS name from the CA."""


@dataclass(frozen=True)
class IssuedServerCertificate:
    """A certificate albca issues for ``domain`` when the listener needs one."""

    domain: str
    issue: IssueServerCertificate
    authorities: Sequence[x509.Certificate]  # the CA certificates that make one "albca's"
    renew: bool = False

    def certificate_arn(self, aws: Aws, listener: Listener, now: datetime) -> str:
        """The ARN the listener should use, importing into ACM when needed."""
        region = region_of_arn(listener.arn)
        replace = None
        if listener.certificate_arn is not None:
            current = inspect_certificate(aws, listener.certificate_arn, region=region)
            certificate = current.certificate
            if (
                certificate is not None
                and issuing_ca(certificate, self.authorities) is not None
                and covers_dns_name(certificate, self.domain)
            ):
                if not self.renew and not renewal_due(certificate, now):
                    return current.arn
                replace = current.arn
        verb = "renew" if replace else "issue"
        aws.local(f"{verb} a server certificate for {self.domain} (profile server)")
        material = None
        if not aws.dry_run:
            issued = self.issue(self.domain)
            assert issued.private_key is not None  # issued with a new key
            material = ImportMaterial(issued.certificate, issued.private_key, issued.chain)
        return import_certificate(
            aws,
            material,
            purpose=f"alb-listener:{self.domain}",
            region=region,
            replace_arn=replace,
            now=now,
        )


@dataclass(frozen=True)
class FileServerCertificate:
    """A certificate and key the user brings (files), imported as they are."""

    material: ImportMaterial
    source: str

    def certificate_arn(self, aws: Aws, listener: Listener, now: datetime) -> str:
        region = region_of_arn(listener.arn)
        self.material.check(now, source=self.source)
        if listener.certificate_arn is not None:
            current = inspect_certificate(aws, listener.certificate_arn, region=region)
            if current.certificate == self.material.certificate:
                return current.arn
        return import_certificate(
            aws,
            self.material,
            purpose="alb-listener:" + _first_name(self.material.certificate),
            region=region,
            now=now,
        )


def set_listener_certificate(
    aws: Aws,
    listener_arn: str,
    source: IssuedServerCertificate | FileServerCertificate,
    now: datetime,
) -> str:
    """Give the HTTPS listener ``source``'s certificate as its default certificate, keeping
    its SSL policy and mutual TLS; returns the certificate ARN."""
    listener = read_listener(aws, listener_arn)
    require_https(listener)
    arn = source.certificate_arn(aws, listener, now)
    if arn != listener.certificate_arn:
        params = modify_listener_params(listener, certificate_arn=arn)
        aws.change("elbv2", "modify_listener", **params)
    return arn


def _first_name(certificate: x509.Certificate) -> str:
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName)
    except x509.ExtensionNotFound:
        names = []
    return names[0] if names else f"serial-{certificate.serial_number:x}"
