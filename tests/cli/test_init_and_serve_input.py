"""Bad input to ``albca init``, ``albca serve`` and the settings: one line naming what is
wrong, exit status 1, nothing created (the review of the first-run journey)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from albca.ca.errors import CAError
from albca.cli import app
from tests.factories import make_csr

ALBCA = str(Path(sys.executable).with_name("albca"))


def one_line(result: subprocess.CompletedProcess[str], status: int = 1) -> str:
    """The one ``albca: error:`` line of a command that failed with ``status``."""
    assert result.returncode == status, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("albca: error: ")
    return lines[0].removeprefix("albca: error: ")


# -- albca init ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("option", "url"),
    [("--crl-url", "not a url"), ("--ca-issuers-url", "ftp://x"), ("--crl-url", "http:///c")],
)
def test_init_refuses_a_url_no_relying_party_can_fetch_and_creates_nothing(cli, option, url):
    message = cli.fails("init", option, url)
    assert message.startswith(f"{option}: {url!r} ")
    assert not cli.home.exists()
    cli.ok("init", option, "https://pki.example/ca")  # nothing was left to refuse
    cli.ok("list")


@pytest.mark.parametrize(
    ("option", "value", "why"),
    [
        ("--root-cn", "", "cannot be blank"),
        ("--issuing-cn", "x" * 65, "longer than 64 characters"),
        ("--root-cn", " Root", "white space"),
    ],
)
def test_init_refuses_a_common_name_a_ca_cannot_hold_and_creates_nothing(cli, option, value, why):
    message = cli.fails("init", option, value)
    assert message.startswith(f"{option}: ")
    assert why in message
    assert not cli.home.exists()


def test_initialize_ca_refuses_a_bad_url_or_name_before_creating_anything(tmp_path, monkeypatch):
    # The library entry point too: a config.toml that would not load is never written.
    from albca.compose.new_ca import InitOptions, initialize_ca
    from albca.settings import Settings

    for name in ("ALBCA_STORE", "ALBCA_KEY_PASSPHRASE_FILE", "ALBCA_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(home=tmp_path / "home", key_passphrase="correct horse battery staple")
    for options, field in [
        (InitOptions(crl_urls=["not a url"]), "crl.distribution_urls"),
        (InitOptions(issuing_common_name=""), "issuing_common_name"),
    ]:
        with pytest.raises(CAError, match=re.escape(field)):
            initialize_ca(settings, lambda: b"unused", options, actor="test")
    assert list(tmp_path.iterdir()) == []


def test_init_refuses_a_home_that_is_a_file_and_leaves_it_alone(cli, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("mine")
    message = cli.fails("init", env={"ALBCA_HOME": str(afile)})
    assert message == f"ALBCA_HOME: {afile} exists and is not a directory"
    message = cli.fails("init", env={"ALBCA_HOME": str(afile / "sub")})
    assert (
        message
        == f"ALBCA_HOME: cannot create {afile / 'sub'}: a part of the path is not a directory"
    )
    assert afile.read_text() == "mine"
    assert not list(tmp_path.glob(".albca-init-*"))


# -- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("{bad", "ALBCA_TRUST_STORE_QUOTAS is not valid JSON: "),
        ('{"max_crls": 30,}', "ALBCA_TRUST_STORE_QUOTAS is not valid JSON: "),
        ('{"max_crls": "many"}', "ALBCA_TRUST_STORE_QUOTAS: max_crls: "),
    ],
)
def test_malformed_trust_store_quotas_are_one_line_naming_the_variable(
    initialized, value, expected
):
    message = initialized.fails("list", env={"ALBCA_TRUST_STORE_QUOTAS": value})
    assert message.startswith(expected)
    assert "ALBCA_TRUST_STORE_QUOTAS_" not in message  # no variable of that name exists


def test_well_formed_trust_store_quotas_are_taken(initialized):
    initialized.ok("list", env={"ALBCA_TRUST_STORE_QUOTAS": '{"max_crls": 40}'})


# -- albca token -----------------------------------------------------------------------------


@pytest.mark.parametrize("lifetime", ["0d", "0m"])
def test_token_with_no_lifetime_names_the_option_and_creates_nothing(initialized, lifetime):
    message = initialized.fails(
        "token", "create", "web", "--profile", "server", "--lifetime", lifetime
    )
    assert message == f"--lifetime: {lifetime!r} must be longer than zero"
    assert initialized.json("token", "list") == []


# -- albca serve -----------------------------------------------------------------------------


def serve(cli, *args: str, port: int | None = None) -> subprocess.CompletedProcess[str]:
    """``albca serve`` as a user runs it; every case here must stop at start-up."""
    return subprocess.run(
        [ALBCA, "serve", "--port", str(port or free_port()), *args],
        env={**os.environ, **cli.env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def tls_files(initialized):
    """A server certificate and its key, another certificate's key, a CSR, an encrypted key."""
    out = initialized.workdir
    initialized.ok("issue", "server", "--dns", "api.example", "--out", str(out))
    initialized.ok("issue", "client", "--cn", "other", "--out", str(out))
    key = serialization.load_pem_private_key((out / "api.example.key.pem").read_bytes(), None)
    (out / "api.csr").write_bytes(make_csr(key, common_name="api.example"))
    (out / "encrypted.key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"a passphrase"),
        )
    )
    return out


@pytest.mark.parametrize(
    ("cert", "key", "expected"),
    [
        ("api.pem", "api.example.key.pem", "--tls-cert: cannot read {cert}: No such file"),
        ("api.example.fullchain.pem", "api.key", "--tls-key: cannot read {key}: No such file"),
        (
            "api.example.fullchain.pem",
            "other.key.pem",
            "--tls-key: {key} is not the private key of --tls-cert {cert}",
        ),
        ("api.csr", "api.example.key.pem", "--tls-cert: {cert} holds no PEM certificate"),
        (
            "api.example.fullchain.pem",
            "api.example.fullchain.pem",
            "--tls-key: {key} holds no PEM private key",
        ),
        ("api.example.fullchain.pem", "encrypted.key.pem", "--tls-key: {key} is encrypted"),
    ],
)
def test_serve_checks_its_tls_files_before_starting(initialized, tls_files, cert, key, expected):
    cert_path, key_path = tls_files / cert, tls_files / key
    result = serve(initialized, "--tls-cert", str(cert_path), "--tls-key", str(key_path))
    assert one_line(result).startswith(expected.format(cert=cert_path, key=key_path))


@pytest.mark.parametrize("port", ["0", "65536", "99999"])
def test_serve_refuses_a_port_out_of_range(initialized, port):
    result = subprocess.run(
        [ALBCA, "serve", "--port", port],
        env={**os.environ, **initialized.env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    # A value click refuses is a usage error: exit status 2, as every other one.
    assert "Invalid value for '--port'" in one_line(result, status=2)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_port_in_use_is_one_line(initialized, workers):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(initialized, "--workers", workers, port=port)
    message = one_line(result)
    assert message == f"cannot listen on 127.0.0.1:{port}: Address already in use"
    assert "albca API on" not in result.stderr


def test_serve_on_a_host_that_does_not_resolve_is_one_line(initialized):
    result = serve(initialized, "--host", "no-such-host.invalid")
    assert one_line(result).startswith("cannot listen on no-such-host.invalid:")


def test_serve_help_shows_where_the_timeouts_come_from():
    output = CliRunner().invoke(app, ["serve", "--help"], env={"COLUMNS": "400"}).stdout
    text = " ".join(output.replace("│", " ").split())
    for expected in (
        "(default: ALBCA_API_HEADER_TIMEOUT_SECONDS, else 10)",
        "then 408 (default: ALBCA_API_BODY_TIMEOUT_SECONDS, else 30)",
        "(default: ALBCA_API_KEEP_ALIVE_SECONDS, else 5)",
        "(default: ALBCA_API_LIMIT_CONCURRENCY, else 256)",
    ):
        assert expected in text
