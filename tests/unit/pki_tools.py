"""Independent judges of what albca produces: pkilint, the OpenSSL command line, and a
minimal DER reader that shares no code with ``ca.der``.

pkilint validators are built the way its own ``lint_pkix_cert`` and ``lint_crl`` scripts
build them (``pkilint/bin/``), once per session, because building them is not free.
"""

from __future__ import annotations

import functools
import subprocess
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pkilint import loader, pkix
from pkilint.pkix import certificate, crl, extension, name
from pkilint.validation import ValidationFindingSeverity

# -- pkilint ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    path: str
    severity: str
    code: str
    message: str | None

    def __str__(self) -> str:
        return f"{self.severity} {self.code} at {self.path}: {self.message or ''}"


@functools.cache
def _certificate_validator():
    return certificate.create_pkix_certificate_validator_container(
        certificate.create_decoding_validators(
            name.ATTRIBUTE_TYPE_MAPPINGS, extension.EXTENSION_MAPPINGS
        ),
        [
            certificate.create_issuer_validator_container([]),
            certificate.create_validity_validator_container(),
            certificate.create_subject_validator_container([]),
            certificate.create_extensions_validator_container([]),
            certificate.create_spki_validator_container([]),
        ],
    )


@functools.cache
def _crl_validator():
    # lint_crl.py with --type CRL --profile PKIX.
    return crl.create_pkix_crl_validator_container(
        [
            pkix.create_attribute_decoder(name.ATTRIBUTE_TYPE_MAPPINGS),
            pkix.create_extension_decoder(extension.EXTENSION_MAPPINGS),
        ],
        [
            crl.create_issuer_validator_container([]),
            crl.create_validity_validator_container([]),
            crl.create_extensions_validator_container([]),
        ],
    )


def _findings(results, worst: ValidationFindingSeverity) -> list[Finding]:
    return [
        Finding(
            path=str(result.node.path),
            severity=description.finding.severity.name,
            code=description.finding.code,
            message=description.message,
        )
        for result in results
        for description in result.finding_descriptions
        if description.finding.severity <= worst
    ]


# WARNING findings are violations of an RFC "SHOULD"; albca's certificates have none, and
# the tests keep it that way. NOTICE and INFO findings are observations, not defects.
LINT_THRESHOLD = ValidationFindingSeverity.WARNING


def lint_certificate(
    cert: x509.Certificate, worst: ValidationFindingSeverity = LINT_THRESHOLD
) -> list[Finding]:
    """pkilint's RFC 5280 findings for ``cert`` at ``worst`` severity or above."""
    der = cert.public_bytes(serialization.Encoding.DER)
    document = loader.RFC5280CertificateDocumentLoader().load_der_document(der)
    return _findings(_certificate_validator().validate(document.root), worst)


def lint_crl(der: bytes, worst: ValidationFindingSeverity = LINT_THRESHOLD) -> list[Finding]:
    """pkilint's RFC 5280 CRL findings at ``worst`` severity or above."""
    document = loader.RFC5280CertificateListDocumentLoader().load_der_document(der)
    return _findings(_crl_validator().validate(document.root), worst)


# -- the openssl command line ---------------------------------------------------------


def openssl(*args: str | Path, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", *map(str, args)],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def write_pem(path: Path, *certificates: x509.Certificate) -> Path:
    path.write_bytes(
        b"".join(cert.public_bytes(serialization.Encoding.PEM) for cert in certificates)
    )
    return path


# -- a minimal DER reader ---------------------------------------------------------------


@dataclass(frozen=True)
class Element:
    tag: int
    content: bytes
    encoded: bytes  # tag, length and content


def read_elements(data: bytes) -> list[Element]:
    """The consecutive TLVs in ``data`` (single-byte tags, definite lengths: DER)."""
    elements = []
    offset = 0
    while offset < len(data):
        tag = data[offset]
        first = data[offset + 1]
        if first < 0x80:
            size, header = first, 2
        else:
            count = first & 0x7F
            size = int.from_bytes(data[offset + 2 : offset + 2 + count], "big")
            header = 2 + count
        end = offset + header + size
        if end > len(data):
            raise ValueError(f"element at {offset} runs past the end of the data")
        elements.append(Element(tag, data[offset + header : end], data[offset:end]))
        offset = end
    return elements


def tbs_fields(signed_der: bytes) -> list[Element]:
    """The fields of the to-be-signed part of a certificate or CRL."""
    (outer,) = read_elements(signed_der)
    tbs = read_elements(outer.content)[0]
    return read_elements(tbs.content)
