"""Issue 12, point 2: concurrent `albca revoke` runs publishing to one file:// target.

Real processes, more than the machine's cores, each revoking and publishing the CRL it
signed, as `albca revoke` does with ALBCA_PUBLISH_TO set: many rounds through the library
(before the fix, 7 to 9 of 60 publishes found an older CRL published over theirs), and
one burst of `albca revoke` commands with a watcher reading the published CRL meanwhile.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import threading
from pathlib import Path

from cryptography import x509

from tests.races import publish_race

ALBCA = str(Path(sys.executable).with_name("albca"))


def crl_number(path: Path) -> int | None:
    try:
        crl = x509.load_pem_x509_crl(path.read_bytes())
    except (OSError, ValueError):
        return None
    return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def test_concurrent_revokes_never_publish_an_older_crl_over_a_newer_one(initialized, tmp_path):
    published = tmp_path / "published"
    env = {**os.environ, **initialized.env, "ALBCA_PUBLISH_TO": published.as_uri()}
    issuer = initialized.json("issue", "client", "--cn", "first")["issuer_key_id"]
    crl_file = published / "crl" / f"{issuer}.pem"
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            number = crl_number(crl_file)
            if number is not None and (not seen or seen[-1] != number):
                seen.append(number)

    watcher = threading.Thread(target=watch)
    watcher.start()
    revoked: list[int] = []
    try:
        for burst in range(1):
            serials = [
                initialized.json("issue", "client", "--cn", f"b{burst}-{n}")["serial"]
                for n in range(6)
            ]
            runs = [
                subprocess.Popen(
                    [ALBCA, "revoke", serial, "--reason", "keyCompromise"],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for serial in serials
            ]
            for run in runs:
                _, stderr = run.communicate(timeout=120)
                assert run.returncode == 0, stderr
            revoked += [int(serial, 16) for serial in serials]
            # After the burst the newest CRL is the one published, and it lists them all.
            newest = max(
                e["detail"]["number"] for e in initialized.json("audit") if e["action"] == "crl"
            )
            assert crl_number(crl_file) == newest
            listed = {e.serial_number for e in x509.load_pem_x509_crl(crl_file.read_bytes())}
            assert set(revoked) <= listed
    finally:
        stop.set()
        watcher.join()
    regressions = sum(1 for a, b in itertools.pairwise(seen) if b < a)
    assert regressions == 0, seen


def test_concurrent_publishers_never_go_back_and_leave_the_newest(tmp_path):
    figures = publish_race(tmp_path / "home", publishers=4, rounds=15)
    assert figures.published == 60
    assert figures.regressed == 0, figures
    assert figures.final_is_newest, figures
