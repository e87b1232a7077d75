"""Issue 12, point 4: `albca serve --workers 2` serves CRLs that hold every revocation it
acknowledged, and never a lower number than before, whichever worker answers."""

from __future__ import annotations

import json
import ssl
import subprocess

import httpx
from cryptography import x509

from tests.cli.test_token_and_serve import ALBCA, _wait_for, env, free_port, run

__all__ = ["env"]  # the fixture


def test_every_crl_served_after_a_revoke_lists_it_and_numbers_never_go_down(env, tmp_path):
    secret = json.loads(
        run(env, "token", "create", "ops", "--profile", "client", "--names", "*.svc.internal",
            "--scopes", "issue,revoke,read", "--json").stdout
    )["token"]  # fmt: skip
    bundle = tmp_path / "bundle.pem"
    bundle.write_text(run(env, "bundle").stdout)
    port = free_port()
    server = subprocess.Popen(
        [*ALBCA, "serve", "--port", str(port), "--tls-from-ca", "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    tls = ssl.create_default_context(cafile=str(bundle))
    base = f"https://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {secret}"}
    numbers: list[int] = []
    stale = 0

    def fetch() -> x509.CertificateRevocationList:
        # A new connection each time: the kernel hands connections to either worker.
        with httpx.Client(base_url=base, verify=tls, timeout=10) as fresh:
            crl = x509.load_der_x509_crl(fresh.get("/v1/ca/crl.der").content)
        numbers.append(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
        return crl

    try:
        with httpx.Client(base_url=base, verify=tls, timeout=10) as client:
            _wait_for(client, server)
            for _ in range(6):
                fetch()  # both workers now hold a CRL
            for n in range(5):
                issued = client.post(
                    "/v1/certificates/generate",
                    json={"profile": "client", "common_name": f"r{n}.svc.internal"},
                    headers=auth,
                )
                serial = int(issued.json()["certificate"]["serial"].replace(":", ""), 16)
                revoked = client.post(f"/v1/certificates/{serial:x}/revoke", json={}, headers=auth)
                assert revoked.status_code == 200, revoked.text
                for _ in range(6):
                    if fetch().get_revoked_certificate_by_serial_number(serial) is None:
                        stale += 1
    finally:
        server.terminate()
        server.communicate(timeout=20)
    assert stale == 0, f"{stale} of 30 CRLs fetched after a revoke lacked it"
    assert numbers == sorted(numbers), numbers
