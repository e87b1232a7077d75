"""A KMS that signs digests correctly: moto's KMS with ``Sign`` done the way AWS does it.

moto 5.2 ignores ``MessageType``: it hashes a ``DIGEST`` again, so its signatures do not
verify outside moto; it also signs with disabled keys and accepts ``RAW`` messages over
4,096 bytes. ``kms_stand_in`` replaces moto's ``Sign`` handler (everything else - keys,
aliases, ``DescribeKey``, ``GetPublicKey``, states - stays moto's) with one that keeps
the documented rules (AWS KMS API reference, ``Sign``):

- ``MessageType`` ``RAW`` (the default): at most 4,096 bytes, hashed by KMS;
- ``DIGEST``: the length must be the digest length of the signing algorithm, and the
  digest is signed as it is (no second hash);
- the key must be ``Enabled`` (``DisabledException`` / ``KMSInvalidStateException``),
  ``SIGN_VERIFY`` (``InvalidKeyUsageException``), and offer the signing algorithm.

Signatures are made by moto's own key, with cryptography; tests verify them with
cryptography against ``GetPublicKey``, never with ``kms.verify``. ``throttle_next``
answers the next signing requests with ``ThrottlingException``, as KMS does over quota.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from unittest import mock

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils
from moto.core.exceptions import JsonRESTError
from moto.kms.responses import KmsResponse

_HASHES = {
    "ECDSA_SHA_256": hashes.SHA256,
    "ECDSA_SHA_384": hashes.SHA384,
    "ECDSA_SHA_512": hashes.SHA512,
    "RSASSA_PKCS1_V1_5_SHA_256": hashes.SHA256,
    "RSASSA_PKCS1_V1_5_SHA_384": hashes.SHA384,
    "RSASSA_PKCS1_V1_5_SHA_512": hashes.SHA512,
}
_RAW_LIMIT = 4096


@dataclass
class SignRequest:
    key_id: str
    message_type: str
    signing_algorithm: str
    message_length: int


@dataclass
class KmsStandIn:
    requests: list[SignRequest] = field(default_factory=list)
    _throttle: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def throttle_next(self, count: int) -> None:
        with self._lock:
            self._throttle = count

    def _take_throttle(self) -> bool:
        with self._lock:
            if self._throttle > 0:
                self._throttle -= 1
                return True
            return False

    def sign(self, response: KmsResponse) -> str:
        key_id = response._get_param("KeyId")
        message: bytes = response._get_param("Message")
        message_type = response._get_param("MessageType") or "RAW"
        algorithm = response._get_param("SigningAlgorithm")
        with self._lock:
            self.requests.append(SignRequest(key_id, message_type, algorithm, len(message)))
        if self._take_throttle():
            raise JsonRESTError("ThrottlingException", "Rate exceeded")
        response._validate_key_id(key_id)
        key = response.kms_backend.describe_key(key_id)
        if key.key_state == "Disabled":
            raise JsonRESTError("DisabledException", f"{key.arn} is disabled.")
        if key.key_state != "Enabled":
            raise JsonRESTError("KMSInvalidStateException", f"{key.arn} is {key.key_state}")
        if key.key_usage != "SIGN_VERIFY":
            raise JsonRESTError("InvalidKeyUsageException", f"{key.arn} cannot sign")
        if algorithm not in key.signing_algorithms:
            raise JsonRESTError("ValidationException", f"{algorithm} is not valid for {key.arn}")
        hash_algorithm = _HASHES[algorithm]()
        if message_type == "RAW":
            if not 1 <= len(message) <= _RAW_LIMIT:
                raise JsonRESTError("ValidationException", "Message must be 1-4096 bytes")
            signed_hash: hashes.HashAlgorithm | utils.Prehashed = hash_algorithm
        elif message_type == "DIGEST":
            if len(message) != hash_algorithm.digest_size:
                raise JsonRESTError(
                    "ValidationException",
                    f"Digest is invalid length for algorithm {algorithm}.",
                )
            signed_hash = utils.Prehashed(hash_algorithm)
        else:
            raise JsonRESTError("ValidationException", f"MessageType {message_type} is invalid")
        private_key = key.private_key.private_key  # moto's cryptography key
        if isinstance(private_key, ec.EllipticCurvePrivateKey):
            signature = private_key.sign(message, ec.ECDSA(signed_hash))
        else:
            signature = private_key.sign(message, padding.PKCS1v15(), signed_hash)
        return json.dumps(
            {
                "KeyId": key.arn,
                "Signature": base64.b64encode(signature).decode(),
                "SigningAlgorithm": algorithm,
            }
        )


@contextmanager
def kms_stand_in() -> Iterator[KmsStandIn]:
    stand_in = KmsStandIn()

    def sign(self: KmsResponse) -> str:
        return stand_in.sign(self)

    with mock.patch.object(KmsResponse, "sign", sign):
        yield stand_in
