"""Real TLS on 127.0.0.1: write issued credentials to files and run both ends."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from albca.ca.authority import Authority
from albca.ca.issued import IssuedCertificate
from albca.trust_bundle.bundle import TrustBundle

# The emulated AWS of tests/aws (moto S3, the ELBv2 trust store fake, an authority feeding
# trust stores), for handshakes against exactly what a trust store loaded.
from tests.aws.conftest import (  # noqa: F401
    authority,
    aws,
    bucket,
    ca_signers,
    elbv2,
    every_fake_setting,
    fake_settings,
    manager,
    publisher,
    s3,
    trust_api,
    trust_fake,
)


@dataclass(frozen=True)
class Credentials:
    fullchain: Path
    key: Path


def write_credentials(directory: Path, name: str, issued: IssuedCertificate) -> Credentials:
    directory.mkdir(parents=True, exist_ok=True)
    fullchain = directory / f"{name}.fullchain.pem"
    key = directory / f"{name}.key.pem"
    fullchain.write_bytes(issued.full_chain_pem)
    key.write_bytes(issued.private_key_pem())
    return Credentials(fullchain=fullchain, key=key)


def write_bundle(directory: Path, ca: Authority) -> Path:
    path = directory / "ca-bundle.pem"
    path.write_bytes(TrustBundle.of(ca.trusted_certificates()).pem)
    return path


@pytest.fixture
def workdir(tmp_path) -> Path:
    return tmp_path
