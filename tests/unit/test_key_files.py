"""CA keys in local files: encrypted, private to the owner, never overwritten, never shown."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from albca.ca.errors import KeyUnavailable
from albca.ca.key_files import MIN_PASSPHRASE_LENGTH, load_key_file, write_encrypted_key
from albca.ca.keys import KeySpec, signature_hash
from albca.ca.signer import PrivateKeySigner, sign_bytes

PASSPHRASE = b"a long enough passphrase"


@pytest.mark.parametrize("spec", [KeySpec.EC_P384, KeySpec.RSA_2048], ids=str)
def test_a_written_key_loads_back_into_a_signer(tmp_path, key_pool, spec):
    key = key_pool.leaf(spec)
    path = tmp_path / "issuing.key.pem"
    write_encrypted_key(path, key, PASSPHRASE)
    signer = load_key_file(path, PASSPHRASE, location="file:keys/issuing.key.pem")
    assert signer.public_key == key.public_key()
    assert signer.key_spec is spec
    assert signer.location == "file:keys/issuing.key.pem"


def test_the_key_file_is_encrypted_pkcs8(tmp_path, key_pool):
    path = tmp_path / "root.key.pem"
    write_encrypted_key(path, key_pool.leaf(KeySpec.EC_P256), PASSPHRASE)
    text = path.read_bytes()
    assert text.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises(TypeError, match="encrypted"):
        serialization.load_pem_private_key(text, password=None)


def test_the_key_file_is_readable_by_the_owner_only(tmp_path, key_pool):
    path = tmp_path / "root.key.pem"
    old_umask = os.umask(0)  # even with a permissive umask
    try:
        write_encrypted_key(path, key_pool.leaf(KeySpec.EC_P256), PASSPHRASE)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_an_existing_key_file_is_never_overwritten(tmp_path, key_pool):
    path = tmp_path / "root.key.pem"
    write_encrypted_key(path, key_pool.leaf(KeySpec.EC_P256), PASSPHRASE)
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        write_encrypted_key(path, key_pool.leaf(KeySpec.EC_P384), PASSPHRASE)
    assert path.read_bytes() == before


def test_a_wrong_passphrase_is_key_unavailable_naming_the_file(tmp_path, key_pool):
    path = tmp_path / "root.key.pem"
    write_encrypted_key(path, key_pool.leaf(KeySpec.EC_P256), PASSPHRASE)
    with pytest.raises(KeyUnavailable, match="wrong passphrase") as caught:
        load_key_file(path, b"not the passphrase at all")
    assert str(path) in str(caught.value)
    assert PASSPHRASE.decode() not in str(caught.value)


def test_a_missing_key_file_is_key_unavailable_naming_the_file(tmp_path):
    path = tmp_path / "missing.key.pem"
    with pytest.raises(KeyUnavailable, match="does not exist") as caught:
        load_key_file(path, PASSPHRASE)
    assert str(path) in str(caught.value)


def test_a_damaged_key_file_is_key_unavailable(tmp_path):
    path = tmp_path / "root.key.pem"
    path.write_bytes(
        b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n"
    )
    path.chmod(0o600)
    with pytest.raises(KeyUnavailable, match="damaged file") as caught:
        load_key_file(path, PASSPHRASE)
    assert str(path) in str(caught.value)


def test_a_short_passphrase_is_refused_and_nothing_is_written(tmp_path, key_pool):
    path = tmp_path / "root.key.pem"
    short = b"x" * (MIN_PASSPHRASE_LENGTH - 1)
    with pytest.raises(KeyUnavailable, match=f"at least {MIN_PASSPHRASE_LENGTH} characters"):
        write_encrypted_key(path, key_pool.leaf(KeySpec.EC_P256), short)
    assert not path.exists()
    write_encrypted_key(path, key_pool.leaf(KeySpec.EC_P256), b"x" * MIN_PASSPHRASE_LENGTH)


def test_a_passphrase_must_be_bytes(tmp_path, key_pool):
    with pytest.raises(TypeError, match="passphrase must be bytes"):
        write_encrypted_key(tmp_path / "k.pem", key_pool.leaf(KeySpec.EC_P256), "text passphrase")  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", [KeySpec.EC_P256, KeySpec.RSA_2048], ids=str)
def test_the_private_key_never_appears_in_a_signers_repr(key_pool, spec):
    key = key_pool.leaf(spec)
    signer = PrivateKeySigner(key, location="file:keys/root.key.pem")
    assert repr(signer) == "PrivateKeySigner(location='file:keys/root.key.pem')"
    numbers = key.private_numbers()
    secret = numbers.private_value if spec.is_ec else numbers.d
    # A log line or a traceback shows str/repr, also of containers holding the signer.
    for text in (repr(signer), str(signer), f"{signer!r}", repr([signer]), repr({"s": signer})):
        assert "private_key=" not in text, text
        assert "PrivateKey object" not in text, text
        assert str(secret) not in text
        assert f"{secret:x}" not in text


def test_a_signer_refuses_what_is_not_an_ec_or_rsa_key():
    with pytest.raises(TypeError, match="must be an EC or RSA private key"):
        PrivateKeySigner(ed25519.Ed25519PrivateKey.generate(), location="x")


def verify(public, signature: bytes, data: bytes, spec: KeySpec) -> None:
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(signature_hash(spec)))
    else:
        assert isinstance(public, rsa.RSAPublicKey)
        public.verify(signature, data, padding.PKCS1v15(), signature_hash(spec))


@pytest.mark.parametrize("spec", list(KeySpec), ids=str)
def test_sign_bytes_makes_signatures_the_public_key_verifies(key_pool, spec):
    signer = PrivateKeySigner(key_pool.leaf(spec), location="mem")
    signature = sign_bytes(signer, b"to be signed")
    verify(signer.public_key, signature, b"to be signed", spec)
    with pytest.raises(InvalidSignature):
        verify(signer.public_key, signature, b"to be signed!", spec)
