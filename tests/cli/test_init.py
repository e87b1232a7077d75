"""``albca init``: a CA home with private keys, and a refusal to touch an existing one."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from tests.cli.conftest import PASSPHRASE


def snapshot(directory):
    return {
        path.relative_to(directory): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in directory.rglob("*")
        if path.is_file()
    }


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_init_creates_a_private_home_with_encrypted_keys(cli):
    summary = cli.json("init", "--org", "Example Corp")
    assert summary["home"] == str(cli.home)
    assert mode(cli.home) == 0o700
    assert mode(cli.home / "keys") == 0o700
    keys = sorted((cli.home / "keys").iterdir())
    assert [k.name.split("-")[0] for k in keys] == ["issuing", "root"]
    for key in keys:
        assert mode(key) == 0o600
        assert b"BEGIN ENCRYPTED PRIVATE KEY" in key.read_bytes()
    assert mode(cli.home / "albca.db") == 0o600
    assert not list(cli.home.parent.glob(".albca-init-*")), "staging directory left behind"


def test_init_refuses_an_existing_home_and_changes_nothing(initialized):
    before = snapshot(initialized.home)
    message = initialized.fails("init")
    assert str(initialized.home) in message
    assert "already holds a CA" in message
    assert snapshot(initialized.home) == before


def test_init_refuses_a_non_empty_directory(cli):
    cli.home.mkdir()
    (cli.home / "notes.txt").write_text("mine")
    assert "not empty" in cli.fails("init")
    assert sorted(p.name for p in cli.home.iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("root", "issuing", "root_type", "issuing_type"),
    [
        ("rsa-3072", "ec-p384", rsa.RSAPublicKey, ec.EllipticCurvePublicKey),
        ("ec-p521", "rsa-2048", ec.EllipticCurvePublicKey, rsa.RSAPublicKey),
    ],
)
def test_init_takes_key_types_per_ca(cli, root, issuing, root_type, issuing_type):
    cli.ok("init", "--root-key-type", root, "--issuing-key-type", issuing)
    bundle = x509.load_pem_x509_certificates(cli.ok("bundle").stdout.encode())
    assert isinstance(bundle[0].public_key(), root_type)
    assert isinstance(bundle[1].public_key(), issuing_type)


def test_init_rejects_an_unknown_key_type_before_creating_anything(cli):
    message = cli.fails("init", "--key-type", "rsa-1024")
    assert "--root-key-type" in message
    assert "rsa-1024" in message
    assert not cli.home.exists()


def test_init_without_a_passphrase_and_no_terminal_says_what_to_set(cli):
    message = cli.fails("init", env={"ALBCA_KEY_PASSPHRASE": ""})
    assert "ALBCA_KEY_PASSPHRASE" in message
    assert not cli.home.exists()


def test_short_passphrase_is_rejected_at_start_up(cli):
    message = cli.fails("init", env={"ALBCA_KEY_PASSPHRASE": "short"})
    assert "ALBCA_KEY_PASSPHRASE" in message
    assert "12 characters" in message


def test_wrong_passphrase_is_one_clear_line(initialized):
    message = initialized.fails(
        "issue", "client", "--cn", "alice", env={"ALBCA_KEY_PASSPHRASE": PASSPHRASE + "!"}
    )
    assert "wrong passphrase" in message


def test_commands_on_an_uninitialized_home_say_to_run_init(cli):
    assert "run `albca init` first" in cli.fails("list")
