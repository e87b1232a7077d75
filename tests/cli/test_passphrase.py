"""Where the CA key passphrase comes from: environment, file, or a prompt asked once."""

from __future__ import annotations

import pytest

from albca.ca.errors import KeyUnavailable
from albca.compose.passphrase import passphrase_source
from albca.settings import Settings


def settings(tmp_path, **values) -> Settings:
    defaults = {"home": tmp_path / "home", "key_passphrase": None, "key_passphrase_file": None}
    return Settings(**{**defaults, **values})


def test_prompt_is_asked_once_and_only_when_needed(tmp_path):
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "a long enough passphrase"

    source = passphrase_source(settings(tmp_path), prompt=prompt, interactive=True)
    assert asked == []  # nothing is asked until a key is needed
    assert source() == b"a long enough passphrase"
    assert source() == b"a long enough passphrase"
    assert asked == ["CA key passphrase: "]


def test_init_prompt_confirms_and_refuses_a_mismatch(tmp_path):
    answers = iter(["a long enough passphrase", "a different passphrase"])
    source = passphrase_source(
        settings(tmp_path), confirm=True, prompt=lambda _: next(answers), interactive=True
    )
    with pytest.raises(KeyUnavailable, match="differ"):
        source()


def test_init_prompt_refuses_a_short_passphrase(tmp_path):
    source = passphrase_source(
        settings(tmp_path), confirm=True, prompt=lambda _: "short", interactive=True
    )
    with pytest.raises(KeyUnavailable, match="at least 12 characters"):
        source()


def test_passphrase_file_is_read_without_its_newline(tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("from a file, 0600\n")
    secret.chmod(0o600)
    source = passphrase_source(settings(tmp_path, key_passphrase_file=secret))
    assert source() == b"from a file, 0600"


def test_passphrase_file_readable_by_others_is_refused(tmp_path):
    secret = tmp_path / "passphrase"
    secret.write_text("from a file, 0644\n")
    secret.chmod(0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        settings(tmp_path, key_passphrase_file=secret)
