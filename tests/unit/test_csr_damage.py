"""A damaged CSR is always an InvalidCSR (a 400 in the API), never another exception.

The API's fuzz test found two: a version byte cryptography rejects lazily
(``x509.InvalidVersion``) and a public key that fails to decode only when the signature
is checked (``ValueError``).
"""

from __future__ import annotations

from cryptography.hazmat.primitives import serialization

from albca.ca.csr import parse_csr
from albca.ca.errors import CAError
from tests.factories import ec_key, make_csr


def test_every_single_byte_change_is_a_ca_error():
    der = make_csr(
        ec_key(),
        common_name="a.svc.internal",
        dns_names=("a.svc.internal",),
        encoding=serialization.Encoding.DER,
    )
    unexpected = []
    for index in range(len(der)):
        for value in {0x00, 0x01, 0x05, 0x7F, 0x80, 0xFF, der[index] ^ 0x01}:
            damaged = bytearray(der)
            damaged[index] = value
            try:
                parse_csr(bytes(damaged))
            except CAError:
                continue
            except Exception as exc:
                unexpected.append((index, value, type(exc).__name__))
    assert unexpected == []
