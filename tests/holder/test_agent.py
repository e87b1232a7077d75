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
from albca.holder.agent import CA_BACKDATE, Agent, AgentPolicy
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


def held_pair(api, directory, name="agent.svc.internal", lifetime_seconds=None) -> PairPaths:
    """A client certificate issued through the API, its key made here."""
    key = new_key(KeySpec.EC_P256)
    token = api.ca.token(f"holder-{name}")
    with CaClient(api.url, bundle_pem=api.bundle_pem) as client:
        issued = client.issue(
            token=token,
            profile="client",
            csr_pem=csr_pem(key, RequestedNames.of(common_name=name)),
            lifetime_seconds=lifetime_seconds,
            idempotency_key=f"agent-test-{name}",
        )
    paths = PairPaths(certificate=directory / f"{name}.crt", key=directory / f"{name}.key")
    paths.certificate.write_text(issued.certificate_pem)
    paths.key.write_bytes(key_pem(key))
    paths.key.chmod(0o600)
    return paths


def issued_at(certificate):
    """When the CA issued it: it backdates notBefore by CA_BACKDATE."""
    return certificate.not_valid_before_utc + CA_BACKDATE


def make_agent(api, paths, *, sleep, on_renewed=lambda p, r: None, policy=None, client=None):
    client = client or CaClient(api.url, bundle_pem=api.bundle_pem, retry=Retry(attempts=1))
    _OPEN.append(client)
    trusted = x509.load_pem_x509_certificates(api.bundle_pem)

    def renew(pair, pending, now):
        return renew_pair(client, pair, pending, trusted=trusted, audience=api.audience, now=now)

    return Agent(
        pairs=paths if isinstance(paths, list) else [paths],
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
        lifetime = old.not_valid_after_utc - issued_at(old)
        due = issued_at(old) + lifetime * 2 / 3
        assert due <= moment < due + timedelta(seconds=2)
    held = read_pair(paths)  # key and certificate match (read_pair refuses otherwise)
    assert held.certificate.serial_number == hooks[-1]


def test_jitter_renews_earlier_never_later(api_on_clock, tmp_path):
    api = api_on_clock
    paths = held_pair(api, tmp_path)
    certificate = read_pair(paths).certificate
    agent = make_agent(api, paths, sleep=lambda s: None, policy=AgentPolicy(jitter=0.1))
    lifetime = certificate.not_valid_after_utc - issued_at(certificate)
    latest = issued_at(certificate) + lifetime * 2 / 3
    dues = {agent.due_time(certificate) for _ in range(50)}
    assert all(latest - lifetime * 0.1 <= due <= latest for due in dues)
    assert len(dues) > 1


def test_agent_keeps_the_old_files_and_backs_off_while_the_ca_is_down(api_on_clock, tmp_path):
    api = api_on_clock
    paths = held_pair(api, tmp_path)
    before = (paths.certificate.read_bytes(), paths.key.read_bytes())
    certificate = read_pair(paths).certificate
    lifetime = certificate.not_valid_after_utc - issued_at(certificate)
    api.ca.clock.now = issued_at(certificate) + lifetime * 2 / 3  # due now
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


def test_a_busy_ca_that_spent_the_token_does_not_stop_the_agent(
    api_on_clock, tmp_path, monkeypatch
):
    # The client's own retries (4 attempts) after a 503: each signs a new token.
    from tests.holder.test_client import fail_first_renewals

    api = api_on_clock
    paths = held_pair(api, tmp_path)
    certificate = read_pair(paths).certificate
    api.ca.clock.now = (
        issued_at(certificate) + (certificate.not_valid_after_utc - issued_at(certificate)) * 2 / 3
    )
    fail_first_renewals(api, monkeypatch, count=2)
    client = CaClient(api.url, bundle_pem=api.bundle_pem, sleep=lambda s: None)
    agent = make_agent(api, paths, sleep=lambda s: None, client=client)
    assert agent.run_once() == 1
    assert read_pair(paths).certificate.serial_number != certificate.serial_number


def test_a_clock_refusal_is_logged_as_skew_and_retried_after_backoff(api_on_clock, tmp_path):
    api = api_on_clock
    paths = held_pair(api, tmp_path)
    certificate = read_pair(paths).certificate
    api.ca.clock.now = (
        issued_at(certificate) + (certificate.not_valid_after_utc - issued_at(certificate)) * 2 / 3
    )
    skew = [timedelta(minutes=10)]  # until NTP syncs: after the first pause
    client = CaClient(api.url, bundle_pem=api.bundle_pem, retry=Retry(attempts=1))
    _OPEN.append(client)
    trusted = x509.load_pem_x509_certificates(api.bundle_pem)

    def renew(pair, pending, now):
        return renew_pair(
            client, pair, pending, trusted=trusted, audience=api.audience, now=now + skew[0]
        )

    def sleep(seconds):
        skew[0] = timedelta(0)
        api.ca.clock.advance(timedelta(seconds=seconds))

    def hook(pair, renewed):
        raise Stop

    lines: list[str] = []
    agent = Agent(
        pairs=[paths], renew=renew, clock=api.ca.clock, sleep=sleep,
        policy=AgentPolicy(jitter=0), on_renewed=hook, log=lines.append,
    )  # fmt: skip
    with pytest.raises(Stop):
        agent.run()
    failed = [line for line in lines if "renewal failed" in line]
    assert len(failed) == 1
    assert "clock skew" in failed[0]
    assert "next try in 30 s" in failed[0]
    assert read_pair(paths).certificate.serial_number != certificate.serial_number


def test_a_one_minute_certificate_is_renewed_at_two_thirds_of_its_minute(api_on_clock, tmp_path):
    # The CA backdates notBefore by 5 minutes: counted as lifetime, a one-minute
    # certificate was due the moment it arrived and the agent renewed it every second.
    api = api_on_clock
    paths = held_pair(api, tmp_path, lifetime_seconds=60)
    start = api.ca.clock()
    renewed_at = []

    def sleep(seconds):
        api.ca.clock.advance(timedelta(seconds=seconds))

    def hook(pair, renewed):
        renewed_at.append(api.ca.clock())
        if len(renewed_at) == 3:
            raise Stop

    with pytest.raises(Stop):
        make_agent(api, paths, sleep=sleep, on_renewed=hook).run()
    gaps = [b - a for a, b in zip([start, *renewed_at], renewed_at, strict=False)]
    assert all(timedelta(seconds=40) <= gap < timedelta(seconds=42) for gap in gaps), gaps


def test_a_certificate_is_never_due_sooner_than_the_minimum_interval(api_on_clock, tmp_path):
    api = api_on_clock
    paths = held_pair(api, tmp_path, lifetime_seconds=6)
    certificate = read_pair(paths).certificate
    agent = make_agent(api, paths, sleep=lambda s: None)
    received = api.ca.clock()
    due = agent.due_time(certificate, received_at=received)
    assert due == received + AgentPolicy().min_interval
    assert agent.due_time(certificate) == issued_at(certificate) + timedelta(seconds=4)


def test_the_agent_assumes_the_cas_default_backdate():
    from albca.ca.authority import AuthorityConfig

    assert AuthorityConfig.__dataclass_fields__["backdate"].default == CA_BACKDATE


def test_a_revoked_certificate_stops_its_own_watch_and_the_others_stay_fresh(
    api_on_clock, tmp_path
):
    api = api_on_clock
    revoked = held_pair(api, tmp_path, name="revoked.svc.internal")
    healthy = held_pair(api, tmp_path, name="healthy.svc.internal")
    certificate = read_pair(revoked).certificate
    api.ca.authority.revoke(
        certificate.serial_number, RevocationReason.KEY_COMPROMISE, requested_by="t"
    )
    lines: list[str] = []
    renewed: list[PairPaths] = []

    def sleep(seconds):
        api.ca.clock.advance(timedelta(seconds=seconds))

    def hook(pair, result):
        renewed.append(pair)
        if len(renewed) == 2:
            raise Stop

    agent = make_agent(
        api, [revoked, healthy], sleep=sleep, on_renewed=hook,
        policy=AgentPolicy(jitter=0, renew_at=0.5),
    )  # fmt: skip
    agent.log = lines.append
    with pytest.raises(Stop):
        agent.run()
    assert renewed == [healthy, healthy]  # kept fresh twice after the other was refused
    refused = [line for line in lines if "no longer renewing" in line]
    assert len(refused) == 1
    assert str(revoked.certificate) in refused[0]
    assert "revoked" in refused[0]
    assert read_pair(revoked).certificate == certificate  # its files untouched


def test_the_agent_stops_when_no_pair_is_left(api_on_clock, tmp_path):
    api = api_on_clock
    pairs = [held_pair(api, tmp_path, name=f"gone{i}.svc.internal") for i in range(2)]
    for paths in pairs:
        serial = read_pair(paths).certificate.serial_number
        api.ca.authority.revoke(serial, RevocationReason.SUPERSEDED, requested_by="t")
    lines: list[str] = []
    slept: list[float] = []

    def sleep(seconds):
        slept.append(seconds)
        api.ca.clock.advance(timedelta(seconds=seconds))

    agent = make_agent(api, pairs, sleep=sleep, policy=AgentPolicy(renew_at=1e-9, jitter=0))
    agent.log = lines.append
    with pytest.raises(RenewalRefused, match=r"gone1\.svc\.internal\.crt: .*revoked"):
        agent.run()
    assert [line for line in lines if "no longer renewing" in line] == [
        line for line in lines if "gone0.svc.internal.crt" in line and "revoked" in line
    ]
    assert slept == []  # both refused in the first pass, no loop
