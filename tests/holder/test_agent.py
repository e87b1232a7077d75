"""The agent on a clock the test moves: the API's clock and the agent's are the same
FixedClock, and the agent's sleep moves it, so months of renewals happen at once, through
the real HTTPS API, renewal tokens, verification and file replacement."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
from cryptography import x509

from albca.ca.keys import KeySpec
from albca.ca.names import RequestedNames
from albca.ca.records import RevocationReason
from albca.holder.agent import Agent, AgentPolicy
from albca.holder.client import CaClient, Retry
from albca.holder.errors import CaUnreachable, CertificateExpired, RenewalRefused
from albca.holder.files import PairPaths, read_pair
from albca.holder.keys import csr_pem, key_pem, new_key
from albca.holder.renewal import renew_pair


class Stop(Exception):
    """Ends an agent's run from its sleep or hook."""


_OPEN: list[CaClient] = []


@pytest.fixture(autouse=True)
def _close_clients():
    yield
    while _OPEN:
        _OPEN.pop().close()


def held_pair(api, directory, name="agent.svc.internal") -> PairPaths:
    """A client certificate issued through the API, its key made here."""
    key = new_key(KeySpec.EC_P256)
    token = api.ca.token("holder")
    with CaClient(api.url, bundle_pem=api.bundle_pem) as client:
        issued = client.issue(
            token=token,
            profile="client",
            csr_pem=csr_pem(key, RequestedNames.of(common_name=name)),
            lifetime_seconds=None,
            idempotency_key="agent-test",
        )
    paths = PairPaths(certificate=directory / f"{name}.crt", key=directory / f"{name}.key")
    paths.certificate.write_text(issued.certificate_pem)
    paths.key.write_bytes(key_pem(key))
    paths.key.chmod(0o600)
    return paths


def make_agent(api, paths, *, sleep, on_renewed=lambda p, r: None, policy=None, client=None):
    client = client or CaClient(api.url, bundle_pem=api.bundle_pem, retry=Retry(attempts=1))
    _OPEN.append(client)
    trusted = x509.load_pem_x509_certificates(api.bundle_pem)

    def renew(pair, pending, now):
        return renew_pair(client, pair, pending, trusted=trusted, audience=api.audience, now=now)

    return Agent(
        pairs=[paths],
        renew=renew,
        clock=api.ca.clock,
        sleep=sleep,
        policy=policy or AgentPolicy(jitter=0),
        on_renewed=on_renewed,
        rng=random.Random(7),
    )


def test_agent_renews_at_two_thirds_of_the_lifetime_and_runs_the_hook_once_each(
    api_on_clock, tmp_path
):
    api = api_on_clock
    paths = held_pair(api, tmp_path)
    renewed_at, hooks = [], []

    def sleep(seconds):
        api.ca.clock.advance(timedelta(seconds=seconds))

    def hook(pair, renewed):
        hooks.append(renewed.new.serial_number)
        renewed_at.append((api.ca.clock(), renewed.old))
        if len(hooks) == 3:
            raise Stop

    with pytest.raises(Stop):
        make_agent(api, paths, sleep=sleep, on_renewed=hook).run()
    assert len(hooks) == len(set(hooks)) == 3  # the hook once per renewal, each a new cert
    for moment, old in renewed_at:
        lifetime = old.not_valid_after_utc - old.not_valid_before_utc
        due = old.not_valid_before_utc + lifetime * 2 / 3
        assert due <= moment < due + timedelta(seconds=2)
    held = read_pair(paths)  # key and certificate match (read_pair refuses otherwise)
    assert held.certificate.serial_number == hooks[-1]


def test_jitter_renews_earlier_never_later(api_on_clock, tmp_path):
    api = api_on_clock
    paths = held_pair(api, tmp_path)
    certificate = read_pair(paths).certificate
    agent = make_agent(api, paths, sleep=lambda s: None, policy=AgentPolicy(jitter=0.1))
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    latest = certificate.not_valid_before_utc + lifetime * 2 / 3
    dues = {agent.due_time(certificate) for _ in range(50)}
    assert all(latest - lifetime * 0.1 <= due <= latest for due in dues)
    assert len(dues) > 1


def test_agent_keeps_the_old_files_and_backs_off_while_the_ca_is_down(api_on_clock, tmp_path):
    api = api_on_clock
    paths = held_pair(api, tmp_path)
    before = (paths.certificate.read_bytes(), paths.key.read_bytes())
    certificate = read_pair(paths).certificate
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    api.ca.clock.now = certificate.not_valid_before_utc + lifetime * 2 / 3  # due now
    api.stop()
    pauses = []

    def sleep(seconds):
        pauses.append(seconds)
        # Meanwhile nothing was written: the old pair is there, whole.
        assert (paths.certificate.read_bytes(), paths.key.read_bytes()) == before
        api.ca.clock.advance(timedelta(seconds=seconds))
        if len(pauses) == 3:
            api.start()  # the CA is back

    def hook(pair, renewed):
        raise Stop

    with pytest.raises(Stop):
        make_agent(api, paths, sleep=sleep, on_renewed=hook).run()
    assert pauses == [30, 60, 120]  # doubling from the first backoff
    assert read_pair(paths).certificate.serial_number != certificate.serial_number


def test_agent_stops_when_the_certificate_was_revoked(api_on_clock, tmp_path):
    api = api_on_clock
    paths = held_pair(api, tmp_path)
    certificate = read_pair(paths).certificate
    authority = api.ca.authority
    authority.revoke(certificate.serial_number, RevocationReason.KEY_COMPROMISE, requested_by="t")
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    api.ca.clock.now = certificate.not_valid_before_utc + lifetime * 0.7
    slept = []
    with pytest.raises(RenewalRefused, match="revoked"):
        make_agent(api, paths, sleep=slept.append).run()
    assert slept == []  # no loop: it stopped at the first refusal
    assert read_pair(paths).certificate == certificate


def test_agent_stops_when_the_certificate_has_expired(api_on_clock, tmp_path):
    api = api_on_clock
    paths = held_pair(api, tmp_path)
    certificate = read_pair(paths).certificate
    api.ca.clock.now = certificate.not_valid_after_utc + timedelta(seconds=1)
    with pytest.raises(CertificateExpired, match="expired"):
        make_agent(api, paths, sleep=lambda s: None).run()


def test_agent_once_raises_when_the_ca_is_down(api_on_clock, tmp_path):
    api = api_on_clock
    paths = held_pair(api, tmp_path)
    certificate = read_pair(paths).certificate
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    api.ca.clock.now = certificate.not_valid_before_utc + lifetime * 0.7
    api.stop()
    with pytest.raises(CaUnreachable):
        make_agent(api, paths, sleep=lambda s: None).run_once()
    assert read_pair(paths).certificate == certificate
