"""The holder's commands end to end, each in its own process of the plain install, against
a real ``albca serve --tls-from-ca`` on 127.0.0.1."""

from __future__ import annotations

import json
import stat
import tomllib

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from tests.holder.conftest import free_port


def public_key_der(obj) -> bytes:
    return obj.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def pair(directory, base):
    certificate = x509.load_pem_x509_certificate((directory / f"{base}.crt.pem").read_bytes())
    key = serialization.load_pem_private_key((directory / f"{base}.key.pem").read_bytes(), None)
    assert public_key_der(certificate) == public_key_der(key), "key and certificate differ"
    return certificate, key


def test_bootstrap_refuses_a_wrong_fingerprint_and_saves_nothing(holder, served):
    wrong = ("0" if served.fingerprint[0] != "0" else "1") + served.fingerprint[1:]
    message = holder.fails("bootstrap", "--ca-url", served.url, "--fingerprint", wrong)
    assert "nothing was saved" in message
    assert served.fingerprint not in message  # never offer the server's own to copy
    assert not holder.config.exists()
    assert not (holder.config.parent / "ca-bundle.pem").exists()


def test_bootstrap_with_the_right_fingerprint_saves_url_and_bundle(holder, served):
    colons = ":".join(served.fingerprint[i : i + 2] for i in range(0, 64, 2)).upper()
    result = holder("bootstrap", "--ca-url", served.url, "--fingerprint", colons)
    assert served.fingerprint in result.stdout
    saved = tomllib.loads(holder.config.read_text())
    assert saved["ca_url"] == served.url
    assert saved["fingerprint"] == served.fingerprint
    bundle = x509.load_pem_x509_certificates((holder.config.parent / "ca-bundle.pem").read_bytes())
    assert len(bundle) == 2  # the root and the issuing CA that chains to it
    assert bundle == x509.load_pem_x509_certificates(served.ca("bundle").stdout.encode())


def test_request_client_certificate_writes_key_0600_certificate_chain_and_p12(holder, served):
    holder.bootstrap()
    result = holder(
        "request", "client", "--cn", "alice.svc.internal", "--p12", "--json",
        ALBCA_TOKEN=served.client_token, ALBCA_P12_PASSWORD="p12-password-1",
    )  # fmt: skip
    files = json.loads(result.stdout)["files"]
    certificate, _ = pair(holder.directory, "alice.svc.internal")
    assert stat.S_IMODE((holder.directory / "alice.svc.internal.key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE((holder.directory / "alice.svc.internal.p12").stat().st_mode) == 0o600
    chain = x509.load_pem_x509_certificates((holder.directory / files["chain"]).read_bytes())
    certificate.verify_directly_issued_by(chain[0])
    loaded = pkcs12.load_pkcs12(
        (holder.directory / "alice.svc.internal.p12").read_bytes(), b"p12-password-1"
    )
    assert loaded.cert.certificate == certificate
    # The key never left: the CA's record has no key, and the files verify as a client.
    verified = holder("verify", "alice.svc.internal.crt.pem")
    assert "purpose:    client" in verified.stdout


def test_request_server_certificate_with_token_file_and_legacy_p12(holder, served):
    holder.bootstrap()
    (holder.directory / "token").write_text(served.server_token + "\n")
    result = holder(
        "request", "server", "--dns", "web.svc.internal", "--key-type", "rsa-2048",
        "--token-file", "token", "--p12-legacy", "--lifetime", "30d",
        ALBCA_P12_PASSWORD="p12-password-1",
    )  # fmt: skip
    assert "3DES and a SHA-1 MAC" in result.stderr
    certificate, key = pair(holder.directory, "web.svc.internal")
    assert key.key_size == 2048
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.days in (29, 30)  # notBefore may be backdated for clock skew
    holder("verify", "web.svc.internal.crt.pem", "--server-name", "web.svc.internal")
    assert "not valid for other.svc.internal" in holder.fails(
        "verify", "web.svc.internal.crt.pem", "--server-name", "other.svc.internal"
    )
    legacy = (holder.directory / "web.svc.internal.p12").read_bytes()
    loaded = pkcs12.load_pkcs12(legacy, b"p12-password-1")
    assert loaded.cert.certificate == certificate
    # pbeWithSHAAnd3-KeyTripleDES-CBC (1.2.840.113549.1.12.1.3) appears in the file.
    assert bytes.fromhex("2a864886f70d010c0103") in legacy


def test_request_refused_by_the_tokens_name_policy_shows_the_apis_message(holder, served):
    holder.bootstrap()
    message = holder.fails(
        "request", "client", "--cn", "db.prod.internal", ALBCA_TOKEN=served.client_token
    )
    assert "403 policy_violation" in message
    assert "not allowed by token clients" in message
    assert not list(holder.directory.glob("*.pem"))


def test_request_needs_a_token(holder):
    holder.bootstrap()
    assert "API token is needed" in holder.fails("request", "client", "--cn", "a.svc.internal")


def test_request_while_the_ca_is_down_fails_in_one_line_and_writes_nothing(holder, served):
    holder.bootstrap()
    down = f"https://127.0.0.1:{free_port()}"
    text = holder.config.read_text().replace(served.url, down)
    holder.config.write_text(text)
    message = holder.fails(
        "request", "client", "--cn", "b.svc.internal", ALBCA_TOKEN=served.client_token
    )
    assert f"cannot reach {down}/v1/certificates" in message
    assert "tried 4 times" in message
    assert not list(holder.directory.glob("b.svc.internal*"))


def test_renew_keeps_the_key_and_the_files_permissions(holder, served):
    holder.bootstrap()
    holder("request", "client", "--cn", "r.svc.internal", ALBCA_TOKEN=served.client_token)
    old, old_key = pair(holder.directory, "r.svc.internal")
    (holder.directory / "r.svc.internal.crt.pem").chmod(0o640)
    (holder.directory / "r.svc.internal.key.pem").chmod(0o400)
    holder(
        "renew", "--cert", "r.svc.internal.crt.pem", "--key", "r.svc.internal.key.pem",
        "--chain", "r.svc.internal.chain.pem",
    )  # fmt: skip
    new, new_key = pair(holder.directory, "r.svc.internal")
    assert new.serial_number != old.serial_number
    assert public_key_der(new_key) == public_key_der(old_key)
    assert new.subject == old.subject
    assert stat.S_IMODE((holder.directory / "r.svc.internal.crt.pem").stat().st_mode) == 0o640
    assert stat.S_IMODE((holder.directory / "r.svc.internal.key.pem").stat().st_mode) == 0o400
    assert not list(holder.directory.glob("*.albca-new")) + list(holder.directory.glob("*swap"))


def test_renewing_a_full_chain_file_keeps_it_a_full_chain(holder, served):
    holder.bootstrap()
    holder("request", "server", "--dns", "f.svc.internal", ALBCA_TOKEN=served.server_token)
    fullchain = holder.directory / "f.svc.internal.fullchain.pem"
    old = x509.load_pem_x509_certificates(fullchain.read_bytes())
    holder("renew", "--cert", fullchain.name, "--key", "f.svc.internal.key.pem")
    new = x509.load_pem_x509_certificates(fullchain.read_bytes())
    assert len(new) == len(old) == 2  # leaf, then the issuing CA: what nginx serves
    assert new[0].serial_number != old[0].serial_number
    assert new[1] == old[1]
    holder("verify", fullchain.name, "--server-name", "f.svc.internal")


def test_renew_with_rekey_replaces_key_and_certificate_together(holder, served):
    holder.bootstrap()
    holder("request", "client", "--cn", "k.svc.internal", ALBCA_TOKEN=served.client_token)
    _, old_key = pair(holder.directory, "k.svc.internal")
    result = holder(
        "renew", "--cert", "k.svc.internal.crt.pem", "--key", "k.svc.internal.key.pem",
        "--rekey", "--key-type", "ec-p384", "--json",
    )  # fmt: skip
    new, new_key = pair(holder.directory, "k.svc.internal")
    assert json.loads(result.stdout)["serial"] == f"{new.serial_number:x}"
    assert public_key_der(new_key) != public_key_der(old_key)
    assert new_key.curve.name == "secp384r1"
    assert stat.S_IMODE((holder.directory / "k.svc.internal.key.pem").stat().st_mode) == 0o600


def test_renewal_after_revocation_is_refused_and_the_agent_stops(holder, served):
    holder.bootstrap()
    holder("request", "client", "--cn", "v.svc.internal", ALBCA_TOKEN=served.client_token)
    old, _ = pair(holder.directory, "v.svc.internal")
    served.ca("revoke", f"{old.serial_number:x}", "--reason", "key-compromise")
    message = holder.fails(
        "renew", "--cert", "v.svc.internal.crt.pem", "--key", "v.svc.internal.key.pem"
    )
    assert "409 not_renewable" in message
    assert "revoked" in message
    assert pair(holder.directory, "v.svc.internal")[0] == old  # the files are untouched
    # Due at once (renew_at close to 0 of the lifetime, which counts from issuance): the
    # agent asks, is refused, and stops with status 1.
    agent = holder(
        "agent", "--cert", "v.svc.internal.crt.pem", "--key", "v.svc.internal.key.pem",
        "--renew-at", "0.000000001", "--jitter", "0", check=False,
    )  # fmt: skip
    assert agent.returncode == 1
    last = agent.stderr.strip().splitlines()[-1]  # after the agent's log lines
    assert last.startswith("albca: error: v.svc.internal.crt.pem: the CA refused")
    assert "revoked" in last


def test_agent_once_renews_what_is_due_and_runs_the_hook(holder, served):
    holder.bootstrap()
    holder("request", "client", "--cn", "o.svc.internal", ALBCA_TOKEN=served.client_token)
    old, _ = pair(holder.directory, "o.svc.internal")
    args = ("agent", "--once", "--cert", "o.svc.internal.crt.pem")
    args += ("--key", "o.svc.internal.key.pem")
    holder(*args)  # not due: nothing happens
    assert pair(holder.directory, "o.svc.internal")[0] == old
    holder(*args, "--renew-at", "0.000000001", "--jitter", "0", "--exec", "touch reloaded")
    assert pair(holder.directory, "o.svc.internal")[0].serial_number != old.serial_number
    assert (holder.directory / "reloaded").exists()


def test_a_second_agent_on_the_same_files_exits_at_once(holder, served):
    import subprocess
    import time

    holder.bootstrap()
    holder("request", "client", "--cn", "l.svc.internal", ALBCA_TOKEN=served.client_token)
    args = ["agent", "--cert", "l.svc.internal.crt.pem", "--key", "l.svc.internal.key.pem"]
    from tests.holder.conftest import PLAIN_ALBCA

    first = subprocess.Popen(
        [*PLAIN_ALBCA, *args], cwd=holder.directory, env=holder.env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "watching" not in (line := first.stderr.readline()):
            assert line, "the first agent exited"
            assert time.monotonic() < deadline, "the first agent did not start"
        message = holder.fails(*args, "--once")
        assert f"being renewed by process {first.pid}" in message
    finally:
        first.terminate()
        first.communicate(timeout=20)  # also closes its stderr pipe


def test_the_client_configuration_follows_xdg_and_ignores_ca_settings(holder, served):
    """Without ALBCA_CLIENT_CONFIG the configuration lives under XDG_CONFIG_HOME, a
    relative one is ignored (XDG Base Directory spec), and a holder's machine is never
    refused for a CA setting it does not use."""
    del holder.env["ALBCA_CLIENT_CONFIG"]
    bootstrap = ("bootstrap", "--ca-url", served.url, "--fingerprint", served.fingerprint)
    xdg = holder.directory / "xdg"
    holder(*bootstrap, XDG_CONFIG_HOME=str(xdg), ALBCA_STORE="not-a-store")
    assert tomllib.loads((xdg / "albca" / "client.toml").read_text())["ca_url"] == served.url

    holder(*bootstrap, XDG_CONFIG_HOME="relative/config")
    default = holder.directory / ".config" / "albca" / "client.toml"  # HOME is the directory
    assert tomllib.loads(default.read_text())["fingerprint"] == served.fingerprint
    assert not (holder.directory / "relative").exists()


def test_renew_rekey_of_the_crt_file_also_renews_the_full_chain_nginx_reads(holder, served):
    holder.bootstrap()
    holder("request", "server", "--dns", "n.svc.internal", ALBCA_TOKEN=served.server_token)
    chain_before = (holder.directory / "n.svc.internal.chain.pem").read_bytes()
    holder(
        "renew", "--cert", "n.svc.internal.crt.pem", "--key", "n.svc.internal.key.pem", "--rekey"
    )
    certificate, key = pair(holder.directory, "n.svc.internal")
    fullchain = x509.load_pem_x509_certificates(
        (holder.directory / "n.svc.internal.fullchain.pem").read_bytes()
    )
    assert fullchain[0].serial_number == certificate.serial_number
    assert public_key_der(fullchain[0]) == public_key_der(key)
    assert fullchain[1:] == x509.load_pem_x509_certificates(chain_before)
    # The README's agent command on the full chain and the same key now works.
    holder(
        "agent",
        "--once",
        "--cert",
        "n.svc.internal.fullchain.pem",
        "--key",
        "n.svc.internal.key.pem",
    )
