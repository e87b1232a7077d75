"""Inputs that used to end in a traceback (issue 12, point 13): each is one line now."""

from __future__ import annotations

import pytest

from tests.factories import make_csr


def test_a_lifetime_beyond_any_date_is_one_line(initialized):
    message = initialized.fails("issue", "client", "--cn", "a", "--lifetime", "99999999999d")
    assert message.startswith("--lifetime: '99999999999d'")
    assert initialized.json("list")["certificates"] == []


def test_expiring_within_beyond_any_date_is_one_line(initialized):
    message = initialized.fails("list", "--expiring-within", "99999999999")
    assert message.startswith("--expiring-within:")


def test_an_endless_csr_file_is_read_up_to_a_bound(initialized):
    # /dev/zero never ends: read_bytes() grew until memory ran out.
    message = initialized.fails("issue", "client", "--csr", "/dev/zero")
    assert message.startswith("--csr: /dev/zero is larger than")


def test_a_csr_just_under_the_bound_is_still_read(initialized):
    (initialized.workdir / "a.csr").write_bytes(make_csr(common_name="a") + b"\n" * 1000)
    initialized.ok("issue", "client", "--csr", "a.csr")


@pytest.mark.parametrize("kind", ["directory", "latin-1"])
def test_a_passphrase_file_that_cannot_be_read_as_text_is_one_line(initialized, tmp_path, kind):
    path = tmp_path / "passphrase"
    if kind == "directory":
        path.mkdir(mode=0o700)
    else:
        path.write_bytes("correct horse battery stäple".encode("latin-1"))
        path.chmod(0o600)
    env = {"ALBCA_KEY_PASSPHRASE": "", "ALBCA_KEY_PASSPHRASE_FILE": str(path)}
    message = initialized.fails("issue", "client", "--cn", "a", env=env)
    assert message.startswith("ALBCA_KEY_PASSPHRASE_FILE:")
    assert ("is a directory" if kind == "directory" else "not UTF-8") in message


def test_a_store_in_a_missing_directory_is_one_line(initialized, tmp_path):
    store = tmp_path / "missing" / "albca.db"
    message = initialized.fails("list", env={"ALBCA_STORE": f"sqlite:///{store}"})
    assert message.startswith("ALBCA_STORE:")
    assert f"{store.parent} does not exist" in message


def test_a_config_file_that_is_a_directory_is_one_line(initialized):
    config = initialized.home / "config.toml"
    text = config.read_text()
    config.unlink()
    config.mkdir()
    message = initialized.fails("list")
    assert str(config) in message
    assert "is a directory" in message
    config.rmdir()
    config.write_text(text)
    initialized.ok("list")


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://crl.exämple.com/ca.crl", "not ASCII"),
        ("http://crl.example.com/ca crl", "white space"),
        ("http:///ca.crl", "no host"),
        ("http://[::1/ca.crl", "malformed"),
        ("http://crl.example.com:99999/ca.crl", "Port out of range"),
    ],
)
@pytest.mark.parametrize("key", ["crl.distribution_urls", "aia.ca_issuers_urls"])
def test_a_bad_crl_or_aia_url_is_refused_when_the_config_is_loaded(initialized, url, why, key):
    config = initialized.home / "config.toml"
    section, name = key.split(".")
    text = config.read_text()
    assert f"{name} = []" in text
    config.write_text(text.replace(f"{name} = []", f'{name} = ["{url}"]', 1))
    message = initialized.fails("issue", "client", "--cn", "a")
    assert f"{section}.{name}" in message
    assert why in message


def test_a_zero_length_store_is_refused_not_taken_for_a_new_ca(initialized):
    initialized.ok("issue", "client", "--cn", "a")
    for leftover in initialized.home.glob("albca.db-*"):
        leftover.unlink()
    (initialized.home / "albca.db").write_bytes(b"")
    message = initialized.fails("list")
    assert "albca.db is an empty file" in message
    assert "is an empty file" in initialized.fails("issue", "client", "--cn", "b")


# -- permissions (issue 12, point 14) ------------------------------------------------------


def test_a_ca_key_file_others_can_read_is_refused(initialized):
    [key_file] = (initialized.home / "keys").glob("issuing-*.key.pem")
    key_file.chmod(0o644)
    message = initialized.fails("issue", "client", "--cn", "a")
    assert f"CA key file {key_file} is open to other users (mode 0644)" in message
    assert f"chmod 600 {key_file}" in message
    key_file.chmod(0o600)
    initialized.ok("issue", "client", "--cn", "a")


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
@pytest.mark.parametrize("which", ["home", "keys"])
def test_a_ca_home_others_can_write_to_is_refused(initialized, mode, which):
    directory = initialized.home if which == "home" else initialized.home / "keys"
    directory.chmod(mode)
    try:
        message = initialized.fails("list")
    finally:
        directory.chmod(0o700)
    assert f"{directory} is writable by other users (mode {mode:04o})" in message
    initialized.ok("list")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (("--cn", ""), "--cn: the common name cannot be blank"),
        (("--cn", "x" * 65), "--cn: '" + "x" * 65 + "' is longer than 64 characters"),
        (("--root", "--issuing-cn", " G2"), "--issuing-cn: ' G2' has leading or trailing"),
    ],
)
def test_a_bad_ca_name_for_a_rotation_is_one_line_and_changes_nothing(initialized, args, error):
    # Before: a cryptography ValueError and a traceback, from deep in the rotation.
    before = initialized.json("ca", "status")
    assert initialized.fails("ca", "rotate", "--no-publish", *args).startswith(error)
    assert initialized.json("ca", "status") == before
