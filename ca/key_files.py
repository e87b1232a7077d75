"""CA private keys in local files: encrypted PKCS#8 PEM, readable by the owner only."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from albca.ca.errors import KeyUnavailable
from albca.ca.signer import PrivateKeySigner

__all__ = ["MIN_PASSPHRASE_LENGTH", "write_encrypted_key", "load_key_file"]

MIN_PASSPHRASE_LENGTH = 12


def _check_passphrase(passphrase: bytes) -> None:
    if not isinstance(passphrase, bytes):
        raise TypeError("passphrase must be bytes")
    if len(passphrase) < MIN_PASSPHRASE_LENGTH:
        raise KeyUnavailable(
            f"the key passphrase must be at least {MIN_PASSPHRASE_LENGTH} characters long"
        )


def write_encrypted_key(
    path: Path, key: CertificateIssuerPrivateKeyTypes, passphrase: bytes
) -> None:
    """Write ``key`` encrypted under ``passphrase``; never overwrites an existing file."""
    _check_passphrase(passphrase)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        # PBES2 with AES-256-CBC: the strongest scheme cryptography writes for PKCS#8.
        serialization.BestAvailableEncryption(passphrase),
    )
    # O_EXCL: two inits racing on one home must not overwrite each other's keys; 0600 is
    # applied at creation, so the key is never readable by others even for an instant.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())


def load_key_file(
    path: Path, passphrase: bytes, *, location: str | None = None
) -> PrivateKeySigner:
    """Decrypt a CA key file into a signer; ``KeyUnavailable`` says why it cannot."""
    try:
        with path.open("rb") as handle:
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            data = handle.read()
    except FileNotFoundError:
        raise KeyUnavailable(f"CA key file {path} does not exist") from None
    except PermissionError:
        raise KeyUnavailable(f"CA key file {path} is not readable by this user") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        # Encrypted, but then the passphrase is all that protects it, and anyone who can
        # read the file can try passphrases offline for as long as they like. Refused as
        # ALBCA_KEY_PASSPHRASE_FILE is (and as ssh refuses a private key others can read).
        raise KeyUnavailable(
            f"CA key file {path} is open to other users (mode {mode:04o}); run chmod 600 {path}"
        )
    try:
        key = serialization.load_pem_private_key(data, password=passphrase)
    except (ValueError, TypeError):
        # cryptography raises the same ValueError for a wrong passphrase and a damaged file.
        raise KeyUnavailable(
            f"cannot decrypt CA key file {path}: wrong passphrase or damaged file"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
        raise KeyUnavailable(f"CA key file {path} holds a {type(key).__name__}, not EC or RSA")
    return PrivateKeySigner(key, location=location or str(path))
