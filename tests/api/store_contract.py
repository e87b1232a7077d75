"""What every backend of the API's stores must do (``api/stores/protocols.py``).

A backend's test module subclasses ``ApiStoreContract`` and provides ``open_stores``: a
callable returning ``(tokens, idempotency, replay_guard)`` over fresh storage the first
time and over the same storage later. A DynamoDB backend passes the same suite.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from albca.api.errors import DuplicateTokenName, RenewalTokenReplayed, TokenNotFound
from albca.api.stores.protocols import IdempotencyEntry
from albca.api.tokens import Scope, new_token
from tests.factories import T0


def make_token(name="ci"):
    return new_token(
        name=name,
        scopes=frozenset({Scope.ISSUE}),
        profiles=["client"],
        names=["*.svc.internal", "10.0.0.0/8"],
        common_names=None,
        allow_wildcards=False,
        ttl=timedelta(days=1),
        now=T0,
    ).token


def entry(key="k", serial=1, fingerprint="f", at=T0, caller="c1"):
    return IdempotencyEntry(
        caller=caller,
        key=key,
        fingerprint=fingerprint,
        serial=serial,
        created_at=at,
        expires_at=at + timedelta(hours=24),
        sealed_private_key=b"sealed" if serial % 2 else None,
    )


class ApiStoreContract:
    @pytest.fixture
    def stores(self, open_stores):
        opened = open_stores()
        yield opened
        for store in opened:
            store.close()

    def test_token_round_trip_and_lookup(self, stores, open_stores):
        tokens, _, _ = stores
        token = make_token()
        tokens.add(token)
        reopened = open_stores()[0]
        assert reopened.find(token.token_id) == token
        assert reopened.by_name("ci") == token
        assert reopened.find("0" * 16) is None
        assert [t.name for t in reopened.list()] == ["ci"]

    def test_token_names_are_unique_forever(self, stores):
        tokens, _, _ = stores
        tokens.add(make_token())
        tokens.revoke("ci", T0)
        with pytest.raises(DuplicateTokenName):
            tokens.add(make_token())

    def test_revoking_keeps_the_first_time(self, stores):
        tokens, _, _ = stores
        tokens.add(make_token())
        first = tokens.revoke("ci", T0 + timedelta(minutes=1))
        second = tokens.revoke("ci", T0 + timedelta(minutes=2))
        assert first.revoked_at == second.revoked_at == T0 + timedelta(minutes=1)
        with pytest.raises(TokenNotFound):
            tokens.revoke("nobody", T0)

    def test_claim_returns_the_first_entry(self, stores):
        _, idempotency, _ = stores
        first = idempotency.claim(entry(serial=1))
        second = idempotency.claim(entry(serial=2, fingerprint="other"))
        assert first == second == entry(serial=1)
        assert idempotency.find("c1", "k", T0) == entry(serial=1)
        assert idempotency.find("c2", "k", T0) is None

    def test_claims_are_per_caller(self, stores):
        _, idempotency, _ = stores
        assert idempotency.claim(entry(caller="a", serial=1)).serial == 1
        assert idempotency.claim(entry(caller="b", serial=2)).serial == 2

    def test_an_expired_claim_is_replaced(self, stores):
        _, idempotency, _ = stores
        idempotency.claim(entry(serial=1))
        later = T0 + timedelta(hours=25)
        assert idempotency.find("c1", "k", later) is None
        assert idempotency.claim(entry(serial=2, at=later)).serial == 2

    def test_racing_claims_agree_on_one_winner(self, stores):
        _, idempotency, _ = stores
        winners = []
        barrier = threading.Barrier(8)

        def claim(serial):
            barrier.wait()
            winners.append(idempotency.claim(entry(serial=serial)).serial)

        threads = [threading.Thread(target=claim, args=(n,)) for n in range(1, 9)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(winners) == 8
        assert len(set(winners)) == 1

    def test_replay_guard_refuses_a_second_use_until_expiry(self, stores):
        _, _, guard = stores
        guard.use_once("serial:jti", T0 + timedelta(minutes=5), T0)
        with pytest.raises(RenewalTokenReplayed):
            guard.use_once("serial:jti", T0 + timedelta(minutes=5), T0 + timedelta(minutes=1))
        guard.use_once("serial:other", T0 + timedelta(minutes=5), T0)
        # Once expired, the id is forgotten (the token itself is refused by its exp).
        guard.use_once("serial:jti", T0 + timedelta(minutes=20), T0 + timedelta(minutes=10))
