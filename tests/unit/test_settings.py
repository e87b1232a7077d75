"""Settings from ALBCA_* variables: unsafe values are refused at start-up, by name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import ValidationError

from albca.ca.key_files import MIN_PASSPHRASE_LENGTH
from albca.settings import Settings


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    """No ALBCA_* variable of the machine running the tests leaks in."""
    for name in list(os.environ):
        if name.startswith("ALBCA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))


def only_error(caught: pytest.ExceptionInfo[ValidationError]) -> tuple[tuple, str]:
    (error,) = caught.value.errors()
    return tuple(error["loc"]), str(error["msg"])


def passphrase_file(tmp_path: Path, mode: int, text: str = "a long enough passphrase") -> Path:
    path = tmp_path / "passphrase"
    path.write_text(text)
    path.chmod(mode)
    return path


def test_defaults_put_the_ca_home_in_the_users_home(tmp_path):
    settings = Settings()
    assert settings.home == tmp_path / ".albca"
    assert settings.sqlite_path == tmp_path / ".albca" / "albca.db"
    assert settings.key_passphrase is None
    assert settings.sqlite_synchronous == "full"


def test_a_short_key_passphrase_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("ALBCA_KEY_PASSPHRASE", "x" * (MIN_PASSPHRASE_LENGTH - 1))
    with pytest.raises(ValidationError) as caught:
        Settings()
    location, message = only_error(caught)
    assert location == ("key_passphrase",)
    assert f"ALBCA_KEY_PASSPHRASE must be at least {MIN_PASSPHRASE_LENGTH} characters" in message


def test_a_long_enough_key_passphrase_is_accepted_and_hidden(monkeypatch):
    secret = "y" * MIN_PASSPHRASE_LENGTH
    monkeypatch.setenv("ALBCA_KEY_PASSPHRASE", secret)
    settings = Settings()
    assert settings.key_passphrase is not None
    assert settings.key_passphrase.get_secret_value() == secret
    assert secret not in repr(settings)
    assert secret not in str(settings)


def test_a_refused_passphrase_does_not_appear_in_the_error(monkeypatch):
    monkeypatch.setenv("ALBCA_KEY_PASSPHRASE", "hunter2")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o660, 0o644, 0o700 | 0o004])
def test_a_passphrase_file_readable_by_others_is_refused(monkeypatch, tmp_path, mode):
    path = passphrase_file(tmp_path, mode)
    monkeypatch.setenv("ALBCA_KEY_PASSPHRASE_FILE", str(path))
    with pytest.raises(ValidationError) as caught:
        Settings()
    location, message = only_error(caught)
    assert location == ("key_passphrase_file",)
    assert f"ALBCA_KEY_PASSPHRASE_FILE: {path} is readable by other users" in message
    assert f"chmod 600 {path}" in message


@pytest.mark.parametrize("mode", [0o600, 0o400])
def test_a_private_passphrase_file_is_accepted(monkeypatch, tmp_path, mode):
    path = passphrase_file(tmp_path, mode)
    monkeypatch.setenv("ALBCA_KEY_PASSPHRASE_FILE", str(path))
    assert Settings().key_passphrase_file == path


def test_a_missing_passphrase_file_is_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("ALBCA_KEY_PASSPHRASE_FILE", str(tmp_path / "nope"))
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert "does not exist" in only_error(caught)[1]


def test_passphrase_and_passphrase_file_together_are_refused(monkeypatch, tmp_path):
    monkeypatch.setenv("ALBCA_KEY_PASSPHRASE", "a long enough passphrase")
    monkeypatch.setenv("ALBCA_KEY_PASSPHRASE_FILE", str(passphrase_file(tmp_path, 0o600)))
    with pytest.raises(ValidationError, match="not both"):
        Settings()


def test_an_unknown_store_url_is_refused(monkeypatch):
    monkeypatch.setenv("ALBCA_STORE", "postgres://db/albca")
    with pytest.raises(ValidationError) as caught:
        Settings()
    location, message = only_error(caught)
    assert location == ("store",)
    assert "ALBCA_STORE" in message
    assert "sqlite:///PATH" in message


def test_a_sqlite_store_url_gives_the_path(monkeypatch, tmp_path):
    monkeypatch.setenv("ALBCA_STORE", f"sqlite:///{tmp_path}/elsewhere.db")
    assert Settings().sqlite_path == tmp_path / "elsewhere.db"


def test_the_home_is_expanded(monkeypatch, tmp_path):
    monkeypatch.setenv("ALBCA_HOME", "~/ca")
    assert Settings().home == tmp_path / "ca"


def test_sqlite_synchronous_accepts_only_full_or_normal(monkeypatch):
    monkeypatch.setenv("ALBCA_SQLITE_SYNCHRONOUS", "off")
    with pytest.raises(ValidationError) as caught:
        Settings()
    assert only_error(caught)[0] == ("sqlite_synchronous",)


def test_trust_store_quotas_are_read_as_json(monkeypatch):
    # Most ALB trust store quotas are adjustable (issue 13, point 9): an account's own
    # figures come from configuration.
    monkeypatch.setenv("ALBCA_TRUST_STORE_QUOTAS", '{"max_trust_stores": 50, "max_crls": 40}')
    assert Settings().trust_store_quotas == {"max_trust_stores": 50, "max_crls": 40}


@pytest.mark.parametrize(
    ("value", "named"),
    [('{"max_stores": 50}', "max_stores"), ('{"max_crls": 0}', "max_crls")],
)
def test_an_unknown_or_impossible_trust_store_quota_is_refused_by_name(monkeypatch, value, named):
    monkeypatch.setenv("ALBCA_TRUST_STORE_QUOTAS", value)
    with pytest.raises(ValidationError) as caught:
        Settings()
    location, message = only_error(caught)
    assert location == ("trust_store_quotas",)
    assert named in message
