"""Races between real processes over one CA, shared by the race tests and bench/crl_races.py.

Each scenario runs the product as it runs in production, several processes at once over
one SQLite file (more processes than this machine's cores), and returns figures: how many
CRLs were checked and how many broke the rule under test. The tests assert the figures are
zero; the bench prints them.

The rule (issue 12): a CRL with a higher number lists every revocation any lower-numbered
CRL of the same CA listed (nothing expires during these runs, so every one of them).
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from albca.ca.authority import Authority, AuthorityConfig
from albca.ca.names import RequestedNames
from albca.ca.profiles import default_profiles
from albca.ca.records import RevocationReason
from albca.ca.signer import PrivateKeySigner
from albca.ca.stores.sqlite import SqliteStore
from tests.authorities import build_authority

# spawn, not fork: each process opens the store itself, as separate `albca` runs do.
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class OrderFigures:
    checked: int  # CRLs compared with every lower-numbered one
    out_of_order: int  # CRLs lacking a revocation a lower-numbered CRL listed

    def __str__(self) -> str:
        return f"CRLs checked {self.checked}, out of order {self.out_of_order}"


def out_of_order(crls: Iterable[tuple[int, frozenset[int]]]) -> OrderFigures:
    """Count the CRLs (number, listed serials) that lack a serial some lower number listed."""
    ordered = sorted(crls)
    numbers = [number for number, _ in ordered]
    if len(set(numbers)) != len(numbers):
        raise AssertionError(f"two CRLs share a number: {numbers}")
    seen: set[int] = set()
    bad = 0
    for _, serials in ordered:
        if not seen <= serials:
            bad += 1
        seen |= serials
    return OrderFigures(len(ordered), bad)


def listed_serials(der: bytes) -> frozenset[int]:
    return frozenset(entry.serial_number for entry in x509.load_der_x509_crl(der))


# -- a CA home the processes share ---------------------------------------------------------
def make_home(home: Path, certificates: int) -> list[int]:
    """A CA in ``home`` (SQLite store, CA keys in files) with ``certificates`` issued."""
    signers: dict[str, PrivateKeySigner] = {}
    authority = build_authority(home, signers=signers)
    for location, signer in signers.items():
        _key_path(home, location).write_bytes(
            signer.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    serials = [
        authority.issue_with_new_key(
            profile="client",
            names=RequestedNames.of(common_name=f"c{n}.svc.internal"),
            requested_by="race",
        ).record.serial
        for n in range(certificates)
    ]
    authority.store.close()
    return serials


def open_authority(home: Path) -> Authority:
    def resolve(location: str) -> PrivateKeySigner:
        key = load_pem_private_key(_key_path(home, location).read_bytes(), None)
        return PrivateKeySigner(key, location=location)  # type: ignore[arg-type]

    return Authority(
        store=SqliteStore(home / "albca.db", synchronous="normal"),
        config=AuthorityConfig(profiles=default_profiles()),
        resolve_signer=resolve,
    )


def _key_path(home: Path, location: str) -> Path:
    return home / (location.replace(":", "-") + ".pem")


# -- 1. CRL numbers and contents (Authority.revoke / generate_crl) ---------------------------
def _revoker(home: str, serials: list[int], start: object) -> None:
    authority = open_authority(Path(home))
    start.wait()  # type: ignore[attr-defined]
    for serial in serials:
        authority.revoke(serial, RevocationReason.KEY_COMPROMISE, requested_by="race")


def _crl_signer(home: str, index: int, crls: int, start: object) -> None:
    authority = open_authority(Path(home))
    signed = []
    start.wait()  # type: ignore[attr-defined]
    for _ in range(crls):
        document = authority.generate_crl(requested_by="race")
        signed.append([document.number, sorted(listed_serials(document.der))])
    (Path(home) / f"crls-{index}.json").write_text(json.dumps(signed))


def crl_order_race(
    home: Path, *, revokers: int = 2, signers: int = 3, revocations: int = 30, crls: int = 25
) -> OrderFigures:
    """``revokers`` processes revoke ``revocations`` certificates each while ``signers``
    processes sign ``crls`` CRLs each, all through ``Authority`` over one SQLite file."""
    serials = make_home(home, revokers * revocations)
    start = _CONTEXT.Event()
    processes = [
        _CONTEXT.Process(
            target=_revoker, args=(str(home), serials[i::revokers], start), daemon=True
        )
        for i in range(revokers)
    ] + [
        _CONTEXT.Process(target=_crl_signer, args=(str(home), i, crls, start), daemon=True)
        for i in range(signers)
    ]
    _run(processes, start)
    signed = [
        (number, frozenset(listed))
        for i in range(signers)
        for number, listed in json.loads((home / f"crls-{i}.json").read_text())
    ]
    return out_of_order(signed)


def _run(processes: list[multiprocessing.process.BaseProcess], start: object) -> None:
    for process in processes:
        process.start()
    time.sleep(0.5 if os.cpu_count() else 0)  # let them import and open the store
    start.set()  # type: ignore[attr-defined]
    for process in processes:
        process.join(timeout=120)
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise AssertionError(f"race processes failed: exit codes {failed}")


# -- 2. publishing the CRL (what `albca revoke` does with ALBCA_PUBLISH_TO=file://) -------------
@dataclass(frozen=True)
class PublishFigures:
    published: int  # CRLs published (or found already superseded)
    regressed: int  # times a publisher found an older CRL than its own published after it
    final_is_newest: bool  # at the end, the published CRL is the highest-numbered one signed

    def __str__(self) -> str:
        return (
            f"CRLs published {self.published}, regressed {self.regressed}, "
            f"newest published at the end: {self.final_is_newest}"
        )


def _publisher(home: str, target: str, index: int, serials: list[int], start: object) -> None:
    from albca.trust_bundle.artefacts import crl_name, publish_crl
    from albca.trust_bundle.publish import publisher_for

    authority = open_authority(Path(home))
    publisher = publisher_for(target)
    bundle = authority.trusted_certificates()
    results = []
    start.wait()  # type: ignore[attr-defined]
    for serial in serials:
        authority.revoke(serial, RevocationReason.KEY_COMPROMISE, requested_by="race")
        document = authority.generate_crl(requested_by="race")
        publish_crl(
            document,
            bundle,
            publisher=publisher,
            store=authority.store,
            actor="race",
            now=authority.now(),
        )
        there = x509.load_pem_x509_crl(publisher.read(crl_name(document.issuer_key_id)))
        number = there.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
        results.append([document.number, number])
    (Path(home) / f"published-{index}.json").write_text(json.dumps(results))


def publish_race(home: Path, *, publishers: int = 4, rounds: int = 15) -> PublishFigures:
    """``publishers`` processes each revoke, sign a CRL and publish it to one file://
    directory, ``rounds`` times; each reads back what is published right after."""
    serials = make_home(home, publishers * rounds)
    target = (home / "published").as_uri()
    start = _CONTEXT.Event()
    processes = [
        _CONTEXT.Process(
            target=_publisher,
            args=(str(home), target, i, serials[i::publishers], start),
            daemon=True,
        )
        for i in range(publishers)
    ]
    _run(processes, start)
    results = [
        pair
        for i in range(publishers)
        for pair in json.loads((home / f"published-{i}.json").read_text())
    ]
    authority = open_authority(home)
    try:
        newest = max(number for number, _ in results)
        issuer = authority.active_issuer_record().key_id
        final = x509.load_pem_x509_crl((home / "published" / "crl" / f"{issuer}.pem").read_bytes())
        final_number = final.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    finally:
        authority.store.close()
    return PublishFigures(
        published=len(results),
        regressed=sum(1 for mine, there in results if there < mine),
        final_is_newest=final_number == newest,
    )


# -- 4. the CRL `albca serve --workers 2` serves ---------------------------------------------
@dataclass(frozen=True)
class ServedFigures:
    fetched: int  # CRLs fetched right after an acknowledged revoke
    stale: int  # of those, CRLs lacking that revocation
    went_down: int  # times the served number was lower than the one fetched before

    def __str__(self) -> str:
        return (
            f"CRLs fetched after a revoke {self.fetched}, stale {self.stale}, "
            f"served number went down {self.went_down} times"
        )


def served_crl_race(workdir: Path, *, revokes: int = 5, fetches: int = 6) -> ServedFigures:
    """`albca init`, then `albca serve --workers 2`; per revoke through the API, ``fetches``
    CRL fetches on fresh connections (the kernel hands them to either worker)."""
    import socket
    import ssl
    import subprocess
    import sys

    import httpx

    albca = str(Path(sys.executable).with_name("albca"))
    env = {
        **os.environ,
        "ALBCA_HOME": str(workdir / "home"),
        "ALBCA_KEY_PASSPHRASE": "race-passphrase-0123",
        "ALBCA_SQLITE_SYNCHRONOUS": "normal",
    }

    def run(*args: str) -> str:
        done = subprocess.run(
            [albca, *args], env=env, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise AssertionError(done.stderr)
        return done.stdout

    run("init")
    secret = json.loads(
        run("token", "create", "ops", "--profile", "client", "--names", "*.svc.internal",
            "--scopes", "issue,revoke,read", "--json")
    )["token"]  # fmt: skip
    bundle = workdir / "bundle.pem"
    bundle.write_text(run("bundle"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [albca, "serve", "--port", str(port), "--tls-from-ca", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    tls = ssl.create_default_context(cafile=str(bundle))
    base = f"https://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {secret}"}
    numbers: list[int] = []

    def fetch() -> x509.CertificateRevocationList:
        with httpx.Client(base_url=base, verify=tls, timeout=10) as fresh:
            crl = x509.load_der_x509_crl(fresh.get("/v1/ca/crl.der").content)
        numbers.append(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
        return crl

    stale = 0
    try:
        with httpx.Client(base_url=base, verify=tls, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    client.get("/v1/health")
                    break
                except httpx.TransportError:
                    if time.monotonic() > deadline or server.poll() is not None:
                        raise AssertionError("albca serve did not start") from None
                    time.sleep(0.1)
            for _ in range(fetches):
                fetch()  # both workers hold a CRL
            for n in range(revokes):
                issued = client.post(
                    "/v1/certificates/generate",
                    json={"profile": "client", "common_name": f"r{n}.svc.internal"},
                    headers=auth,
                )
                serial = int(issued.json()["certificate"]["serial"].replace(":", ""), 16)
                revoked = client.post(f"/v1/certificates/{serial:x}/revoke", json={}, headers=auth)
                if revoked.status_code != 200:
                    raise AssertionError(revoked.text)
                for _ in range(fetches):
                    if fetch().get_revoked_certificate_by_serial_number(serial) is None:
                        stale += 1
    finally:
        server.terminate()
        server.wait(timeout=30)
    went_down = sum(1 for a, b in itertools.pairwise(numbers) if b < a)
    return ServedFigures(revokes * fetches, stale, went_down)
