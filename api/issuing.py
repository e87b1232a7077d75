"""Issuance as the API does it: permissions, idempotency, then the authority.

Routes call these functions and turn the result into a response; nothing here knows HTTP.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.api.errors import IdempotencyKeyReused, ScopeRequired
from albca.api.idempotency import fingerprint, holder_fingerprint, seal, unseal
from albca.api.renewal import Holder
from albca.api.services import ApiServices
from albca.api.stores.key_claims import CertificateStoreIdempotency
from albca.api.stores.protocols import IdempotencyEntry
from albca.api.tokens import Caller, Scope
from albca.ca.authority import IssueRequest
from albca.ca.certificates import random_serial
from albca.ca.csr import ParsedCSR, parse_csr
from albca.ca.errors import CertificateNotFound, DuplicateSerial, IdempotencyKeyTaken
from albca.ca.issued import IssuedCertificate
from albca.ca.keys import CAKey, KeySpec, generate_private_key
from albca.ca.names import RequestedNames
from albca.ca.records import CertificateRecord, KeyClaim

__all__ = [
    "Outcome",
    "issue_from_csr",
    "issue_from_csr_async",
    "issue_with_new_key",
    "issued_response",
    "renew_as_holder",
    "renew_by_serial",
]


@dataclass(frozen=True)
class Outcome:
    issued: IssuedCertificate
    replayed: bool  # True when an Idempotency-Key retry returned an earlier certificate


def _lifetime(seconds: int | None) -> timedelta | None:
    return timedelta(seconds=seconds) if seconds is not None else None


def issue_from_csr(
    services: ApiServices,
    caller: Caller,
    *,
    profile: str,
    csr: str,
    lifetime_seconds: int | None,
    idempotency_key: str | None,
) -> Outcome:
    authority = services.authority
    parsed = _checked_csr(caller, profile, csr)

    def issue(serial: int | None, claim: KeyClaim | None = None) -> IssuedCertificate:
        return authority.issue(
            _csr_request(caller, profile, parsed, lifetime_seconds, serial, claim),
            caller_policy=caller.policy,
        )

    if idempotency_key is None:
        return Outcome(issue(None), replayed=False)
    # Refuse what issue() would refuse before a claim is written for it.
    authority.check(profile, parsed.key_spec, parsed.names, caller.policy)
    keyed = _Keyed.of_csr(services, caller, idempotency_key, profile, csr, lifetime_seconds)
    return keyed.issue_once(issue)


async def issue_from_csr_async(
    services: ApiServices,
    caller: Caller,
    *,
    profile: str,
    csr: str,
    lifetime_seconds: int | None,
    idempotency_key: str | None,
) -> Outcome:
    """``issue_from_csr`` for the event loop: the checks and the signing run on it, the
    commit on the authority's committer thread together with concurrent requests'
    (``Authority.issue_async``).

    With an Idempotency-Key, the key is claimed in the transaction that commits the
    certificate (``KeyClaim``): one commit, shared with concurrent requests, as without a
    key. Measured before (``bench/api_issuance.py --idempotency-key``): the claim was a
    transaction of its own, committed on a thread before the certificate's, and keyed
    requests ran at 0.65x of plain ones at one client and 0.5x at four. A store that
    cannot (DynamoDB) still claims first, on a thread, as does a claim written by an older
    albca: those writes must not block the loop."""

    async def on_thread() -> Outcome:
        return await asyncio.to_thread(
            issue_from_csr,
            services,
            caller,
            profile=profile,
            csr=csr,
            lifetime_seconds=lifetime_seconds,
            idempotency_key=idempotency_key,
        )

    authority = services.authority
    if idempotency_key is None:
        parsed = _checked_csr(caller, profile, csr)
        request = _csr_request(caller, profile, parsed, lifetime_seconds, None)
        issued = await authority.issue_async(request, caller_policy=caller.policy)
        return Outcome(issued, replayed=False)
    keyed = _Keyed.of_csr(services, caller, idempotency_key, profile, csr, lifetime_seconds)
    if not keyed.with_certificate:
        return await on_thread()  # claimed first, in the API's store
    parsed = _checked_csr(caller, profile, csr)
    authority.check(profile, parsed.key_spec, parsed.names, caller.policy)
    earlier = keyed.earlier()
    if earlier is None:
        claim = keyed.claim()
        request = _csr_request(caller, profile, parsed, lifetime_seconds, None, claim)
        try:
            issued = await authority.issue_async(request, caller_policy=caller.policy)
        except IdempotencyKeyTaken as taken:
            earlier = keyed.winner(taken)
        else:
            return Outcome(issued, replayed=False)
    replay = _replay(services, earlier)
    if replay is not None:
        return replay
    # Claimed by an older albca, whose attempt died before its certificate was issued:
    # issued now with the serial of that claim.
    return await on_thread()


def _csr_body(profile: str, csr: str, lifetime_seconds: int | None) -> dict[str, object]:
    """What an Idempotency-Key retry of ``POST /v1/certificates`` must send again."""
    return {"profile": profile, "csr": csr, "lifetime_seconds": lifetime_seconds}


@dataclass(frozen=True)
class _Keyed:
    """A request with an Idempotency-Key that issues one certificate (from a CSR, or a
    renewal): the claim an earlier attempt left, and where this one's goes."""

    services: ApiServices
    caller_id: str
    key: str
    expected: str  # the request's fingerprint

    @classmethod
    def of_csr(
        cls,
        services: ApiServices,
        caller: Caller,
        key: str,
        profile: str,
        csr: str,
        lifetime_seconds: int | None,
    ) -> _Keyed:
        expected = fingerprint(caller, "issue-csr", _csr_body(profile, csr, lifetime_seconds))
        return cls(services, caller.token.token_id, key, expected)

    @property
    def with_certificate(self) -> bool:
        """Whether the key is claimed in the transaction that commits the certificate
        (the SQLite certificate store); otherwise in a write of its own, first."""
        return isinstance(self.services.idempotency, CertificateStoreIdempotency)

    def issue_once(
        self, issue: Callable[[int | None, KeyClaim | None], IssuedCertificate]
    ) -> Outcome:
        """``issue`` once for this key, or the certificate an earlier attempt issued.
        ``issue(serial, claim)`` issues with that serial (None: a new one) and writes
        ``claim`` with the certificate."""
        if not self.with_certificate:
            entry = _claim_entry(
                self.services, self.caller_id, self.key, self.expected, sealed=None
            )
        else:
            earlier = self.earlier()
            if earlier is None:
                try:
                    return Outcome(issue(None, self.claim()), replayed=False)
                except IdempotencyKeyTaken as taken:
                    earlier = self.winner(taken)
            entry = earlier
        return _issue_once(
            self.services, entry, lambda serial: issue(serial, None), private_key=None
        )

    def earlier(self) -> IdempotencyEntry | None:
        """The claim of an earlier attempt (or of another request: refused)."""
        entry = self.services.idempotency.find(
            self.caller_id, self.key, self.services.authority.now()
        )
        if entry is not None:
            _check_fingerprint(entry.fingerprint, self.expected)
        return entry

    def replay(self) -> Outcome | None:
        """The certificate an earlier attempt issued for this key, as a replay; None when
        none is on record (no claim, or one whose attempt died before issuing)."""
        entry = self.earlier()
        return None if entry is None else _replay(self.services, entry)

    def claim(self) -> KeyClaim:
        expires_at = self.services.authority.now() + self.services.settings.idempotency_retention
        return KeyClaim(self.caller_id, self.key, self.expected, expires_at)

    def winner(self, taken: IdempotencyKeyTaken) -> IdempotencyEntry:
        """The claim that took the key first: a concurrent retry's, or another request's."""
        entry = self.earlier()
        if entry is None:
            raise taken  # it expired meanwhile (after idempotency_retention)
        return entry


def _checked_csr(caller: Caller, profile: str, csr: str) -> ParsedCSR:
    caller.require(Scope.ISSUE, action="issue certificates")
    caller.require_profile(profile)
    return parse_csr(csr)


def _csr_request(
    caller: Caller,
    profile: str,
    parsed: ParsedCSR,
    lifetime_seconds: int | None,
    serial: int | None,
    claim: KeyClaim | None = None,
) -> IssueRequest:
    return IssueRequest(
        profile=profile,
        public_key=parsed.public_key,
        names=parsed.names,
        requested_by=caller.actor,
        lifetime=_lifetime(lifetime_seconds),
        serial=serial,
        idempotency=claim,
    )


def issue_with_new_key(
    services: ApiServices,
    caller: Caller,
    *,
    profile: str,
    names: RequestedNames,
    key_spec: KeySpec,
    lifetime_seconds: int | None,
    request_body: dict[str, object],
    idempotency_key: str | None,
) -> Outcome:
    authority = services.authority
    caller.require(Scope.ISSUE, action="issue certificates")
    caller.require_profile(profile)
    authority.check(profile, key_spec, names, caller.policy)
    if idempotency_key is None:
        issued = authority.issue_with_new_key(
            profile=profile,
            names=names,
            requested_by=caller.actor,
            key_spec=key_spec,
            lifetime=_lifetime(lifetime_seconds),
            caller_policy=caller.policy,
        )
        return Outcome(issued, replayed=False)

    now = authority.now()
    entry = services.idempotency.find(caller.token.token_id, idempotency_key, now)
    if entry is None:
        # Generate the key before claiming: the claim must carry it (sealed), because a
        # retry has to return this very key with the certificate.
        fresh_key = generate_private_key(key_spec)
        serial = random_serial()
        der = fresh_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        entry = _claim(
            services,
            caller,
            idempotency_key,
            "issue-key",
            request_body,
            sealed=(serial, seal(caller, idempotency_key, serial, der)),
        )
    else:
        _check_fingerprint(entry.fingerprint, fingerprint(caller, "issue-key", request_body))
    assert entry.sealed_private_key is not None
    private_key = _load_key(unseal(caller, idempotency_key, entry.serial, entry.sealed_private_key))

    def issue(serial: int | None) -> IssuedCertificate:
        return authority.issue(
            IssueRequest(
                profile=profile,
                public_key=private_key.public_key(),
                names=names,
                requested_by=caller.actor,
                lifetime=_lifetime(lifetime_seconds),
                serial=serial,
            ),
            caller_policy=caller.policy,
        )

    return _issue_once(services, entry, issue, private_key=private_key)


def renew_by_serial(
    services: ApiServices,
    caller: Caller,
    *,
    serial: int,
    csr: str | None,
    idempotency_key: str | None,
) -> Outcome:
    """Renew ``serial`` for an API token: ``renew`` for a certificate the token obtained,
    ``renew-any`` for any other (within the token's policy and profiles)."""
    if not caller.has(Scope.RENEW_ANY):
        caller.require(Scope.RENEW, action="renew certificates")
    authority = services.authority
    caller_id = caller.token.token_id
    expected = fingerprint(caller, "renew", {"serial": f"{serial:x}", "csr": csr})
    keyed = None
    if idempotency_key is not None:
        keyed = _Keyed(services, caller_id, idempotency_key, expected)
        # Before any check: a retry must get its certificate back even if the one it
        # renewed has since expired or been revoked (the usual next step after renewing).
        replay = keyed.replay()
        if replay is not None:
            return replay
    public_key = parse_csr(csr).public_key if csr is not None else None
    if not caller.has(Scope.RENEW_ANY) and not caller.obtained(authority.get(serial)):
        # Otherwise a token could put its own key (from a CSR) on another token's
        # certificate, for any name its policy covers (issue 12, point 10).
        raise ScopeRequired(
            f"token {caller.name} did not obtain certificate {serial:x}; renewing another "
            "token's certificate needs the renew-any scope",
            scope=Scope.RENEW_ANY.value,
        )
    current = authority.renewable(serial)
    caller.require_profile(current.profile)

    def renew(new_serial: int | None, claim: KeyClaim | None = None) -> IssuedCertificate:
        return authority.renew(
            current.serial,
            requested_by=caller.actor,
            public_key=public_key,
            caller_policy=caller.policy,
            new_serial=new_serial,
            idempotency=claim,
        )

    if keyed is None:
        return Outcome(renew(None), replayed=False)
    authority.check_renewal(current, public_key=public_key, caller_policy=caller.policy)
    return keyed.issue_once(renew)


def renew_as_holder(
    services: ApiServices,
    holder: Holder,
    *,
    csr: str | None,
    idempotency_key: str | None,
) -> Outcome:
    """Renew the certificate ``holder`` proved it holds (renewal token or ALB mTLS).

    With an Idempotency-Key, keys belong to the certificate (``holder:<serial>``), and a
    retry returns the certificate the first attempt issued, even when it presents the same
    one-time renewal token again: the token was spent on exactly this request.
    """
    authority = services.authority
    expected = holder_fingerprint("renew-holder", {"csr": csr})
    keyed = None
    if idempotency_key is not None:
        keyed = _Keyed(services, holder.actor, idempotency_key, expected)
        replay = keyed.replay()
        if replay is not None:
            return replay
    public_key = parse_csr(csr).public_key if csr is not None else None
    current = authority.renewable(holder.serial, holder.certificate)

    def renew(new_serial: int | None, claim: KeyClaim | None = None) -> IssuedCertificate:
        return authority.renew(
            holder.serial,
            requested_by=current.requested_by,  # the owner (the api.renew event names the holder)
            public_key=public_key,
            presented=holder.certificate,
            new_serial=new_serial,
            idempotency=claim,
        )

    if keyed is None:
        _spend_renewal_token(services, holder)
        return Outcome(renew(None), replayed=False)
    authority.check_renewal(current, public_key=public_key)
    _spend_renewal_token(services, holder)
    return keyed.issue_once(renew)


def _replay(services: ApiServices, entry: IdempotencyEntry) -> Outcome | None:
    """The certificate ``entry`` names, as a replay; None while it is not on record."""
    try:
        record = services.authority.get(entry.serial)
    except CertificateNotFound:
        return None
    return Outcome(_from_record(services, record, None), replayed=True)


def _spend_renewal_token(services: ApiServices, holder: Holder) -> None:
    if holder.token_id is not None and holder.token_accepted_until is not None:
        services.replay_guard.use_once(
            f"{holder.serial:x}:{holder.token_id}",
            holder.token_accepted_until,
            services.authority.now(),
        )


def _claim(
    services: ApiServices,
    caller: Caller,
    key: str,
    operation: str,
    body: dict[str, object],
    *,
    sealed: tuple[int, bytes] | None,
) -> IdempotencyEntry:
    expected = fingerprint(caller, operation, body)
    return _claim_entry(services, caller.token.token_id, key, expected, sealed=sealed)


def _claim_entry(
    services: ApiServices,
    caller_id: str,
    key: str,
    expected: str,
    *,
    sealed: tuple[int, bytes] | None,
) -> IdempotencyEntry:
    now = services.authority.now()
    serial, sealed_key = sealed if sealed is not None else (random_serial(), None)
    entry = services.idempotency.claim(
        IdempotencyEntry(
            caller=caller_id,
            key=key,
            fingerprint=expected,
            serial=serial,
            created_at=now,
            expires_at=now + services.settings.idempotency_retention,
            sealed_private_key=sealed_key,
        )
    )
    _check_fingerprint(entry.fingerprint, expected)
    return entry


def _check_fingerprint(sent_with: str, expected: str) -> None:
    if sent_with != expected:
        raise IdempotencyKeyReused(
            "Idempotency-Key: this key was used for a different request; use a new key for "
            "a new request"
        )


def _issue_once(
    services: ApiServices,
    entry: IdempotencyEntry,
    issue: Callable[[int | None], IssuedCertificate],
    *,
    private_key: CAKey | None,
) -> Outcome:
    """Issue with the entry's serial, or return the certificate an earlier attempt issued."""
    authority = services.authority
    try:
        record = authority.get(entry.serial)
    except CertificateNotFound:
        try:
            issued = issue(entry.serial)
        except DuplicateSerial:
            # A concurrent retry issued it between our look-up and our write.
            record = authority.get(entry.serial)
        else:
            if private_key is not None:
                issued = IssuedCertificate(
                    record=issued.record,
                    certificate=issued.certificate,
                    chain=issued.chain,
                    private_key=private_key,
                )
            return Outcome(issued, replayed=False)
    return Outcome(_from_record(services, record, private_key), replayed=True)


def _from_record(
    services: ApiServices, record: CertificateRecord, private_key: CAKey | None
) -> IssuedCertificate:
    return IssuedCertificate(
        record=record,
        certificate=x509.load_pem_x509_certificate(record.certificate_pem.encode()),
        chain=services.authority.chain_for(record.issuer_key_id),
        private_key=private_key,
    )


def _load_key(der: bytes) -> CAKey:
    key = serialization.load_der_private_key(der, password=None)
    assert isinstance(key, CAKey)
    return key


def issued_response(
    issued: IssuedCertificate, services: ApiServices, *, pkcs12_password: str | None
) -> dict[str, object]:
    now = services.authority.now()
    body: dict[str, object] = {
        "certificate": {
            **issued.record.to_json(now),
            "certificate_pem": issued.record.certificate_pem,
        },
        "certificate_pem": issued.record.certificate_pem,
        "chain_pem": _chain_pem(issued),
        "private_key_pem": None,
        "pkcs12": None,
    }
    if issued.private_key is not None:
        body["private_key_pem"] = issued.private_key_pem().decode()
        if pkcs12_password is not None:
            body["pkcs12"] = base64.b64encode(issued.pkcs12(pkcs12_password.encode())).decode()
    return body


# The chain's PEM by the chain: every answer from one issuing CA carries the same text,
# which is otherwise encoded again per request. Found by the chain tuple's identity, which
# every leaf of one CA shares (``LeafTemplate.chain``): hashing the tuple hashes each
# certificate's DER, 5 us inside the issuing loop. The entry holds the tuple itself, so its
# id cannot be reused by another chain while the entry lives, and ``is`` confirms it.
_CHAIN_PEMS: dict[int, tuple[tuple[x509.Certificate, ...], str]] = {}
_CHAIN_PEMS_LIMIT = 16  # a few issuing CAs across a rotation, and some replayed answers


def _chain_pem(issued: IssuedCertificate) -> str:
    chain = issued.chain
    kept = _CHAIN_PEMS.get(id(chain))
    if kept is not None and kept[0] is chain:
        return kept[1]
    pem = issued.chain_pem.decode()
    if len(_CHAIN_PEMS) >= _CHAIN_PEMS_LIMIT:
        _CHAIN_PEMS.clear()
    _CHAIN_PEMS[id(chain)] = (chain, pem)
    return pem
