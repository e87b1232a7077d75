"""A process killed (SIGKILL, no clean-up) at any step of replacing a certificate and its
key leaves, as albca reads them, either the old pair or the new pair: never a key that
does not match its certificate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from albca.holder.errors import LockHeld, UnreadableFile
from albca.holder.files import (
    PairPaths,
    held_lock,
    new_file_paths,
    pair_with_siblings,
    read_pair,
    recover,
    replace_pair,
)
from albca.holder.keys import key_pem
from tests.factories import T0

KILLER = """
import os, signal, sys
from pathlib import Path
from albca.holder.files import PairPaths, replace_pair

from albca.holder.files import pair_with_siblings

cert, key, new_cert, new_key, at, family = sys.argv[1:]
if family == "family":
    paths = pair_with_siblings(Path(cert), Path(key))
    chain = paths.chain.read_bytes()
else:
    paths, chain = PairPaths(certificate=Path(cert), key=Path(key)), None

def step(name):
    if name == at:
        os.kill(os.getpid(), signal.SIGKILL)

replace_pair(
    paths,
    certificate_pem=Path(new_cert).read_bytes(),
    chain_pem=chain,
    key_pem=Path(new_key).read_bytes() if new_key != "-" else None,
    step=step,
)
"""


def self_signed_pair(name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem(key)


@pytest.fixture
def files(tmp_path):
    old_cert, old_key = self_signed_pair("old")
    new_cert, new_key = self_signed_pair("new")
    paths = PairPaths(certificate=tmp_path / "web.crt", key=tmp_path / "web.key")
    paths.certificate.write_bytes(old_cert)
    paths.key.write_bytes(old_key)
    (tmp_path / "new.crt").write_bytes(new_cert)
    (tmp_path / "new.key").write_bytes(new_key)
    return paths, (old_cert, old_key), (new_cert, new_key)


def kill_at(paths, tmp_path, step, *, rekey=True, cwd=None, family=False):
    result = subprocess.run(
        [
            sys.executable, "-c", KILLER, str(paths.certificate), str(paths.key),
            str(tmp_path / "new.crt"), str(tmp_path / "new.key") if rekey else "-", step,
            "family" if family else "pair",
        ],
        capture_output=True, text=True, timeout=60, cwd=cwd,
    )  # fmt: skip
    return result.returncode


REKEY_STEPS = [
    "wrote web.crt.albca-new",
    "wrote web.key.albca-new",
    "journal",
    "renamed web.crt",
    "renamed web.key",
    "done",
]


@pytest.mark.parametrize("step", REKEY_STEPS)
def test_a_kill_at_any_step_leaves_the_old_or_the_new_pair(files, tmp_path, step):
    paths, old, new = files
    assert kill_at(paths, tmp_path, step) == -9  # really killed there
    held = read_pair(paths)  # recovers, then refuses a key that does not match
    pem = held.certificate.public_bytes(serialization.Encoding.PEM)
    assert (pem, paths.key.read_bytes()) in (old, new)
    # Before the journal is on disk the old pair stays; from then on, the new one wins.
    expected = new if REKEY_STEPS.index(step) >= REKEY_STEPS.index("journal") else old
    assert (paths.certificate.read_bytes(), paths.key.read_bytes()) == expected
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == ["new.crt", "new.key", "web.crt", "web.key"]  # no temporaries, no journal


def test_without_recovery_a_mix_exists_only_while_a_journal_says_how_to_finish(files, tmp_path):
    paths, old, new = files
    assert kill_at(paths, tmp_path, "renamed web.crt") == -9
    assert paths.journal.exists()
    assert (paths.certificate.read_bytes(), paths.key.read_bytes()) == (new[0], old[1])
    recover(paths)
    assert (paths.certificate.read_bytes(), paths.key.read_bytes()) == new


@pytest.mark.parametrize("step", ["wrote web.crt.albca-new", "renamed web.crt"])
def test_a_renewal_with_the_same_key_is_one_rename(files, tmp_path, step):
    paths, old, _ = files
    # Renewal without --rekey: a new certificate for the old key.
    new_cert_same_key = _certificate_for(old[1])
    (tmp_path / "new.crt").write_bytes(new_cert_same_key)
    assert kill_at(paths, tmp_path, step, rekey=False) == -9
    assert not paths.journal.exists()  # nothing to finish: one file, one rename
    expected = new_cert_same_key if step.startswith("renamed") else old[0]
    assert paths.certificate.read_bytes() == expected
    read_pair(paths)  # matches


def _certificate_for(key_pem_bytes: bytes) -> bytes:
    key = serialization.load_pem_private_key(key_pem_bytes, None)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "renewed")])
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(T0)
        .not_valid_after(T0 + timedelta(days=30))
        .sign(key, hashes.SHA256())
        .public_bytes(serialization.Encoding.PEM)
    )


def test_replacement_keeps_mode_and_a_mismatched_pair_is_refused(files, tmp_path):
    paths, old, new = files
    paths.key.chmod(0o640)
    replace_pair(paths, certificate_pem=new[0], chain_pem=None, key_pem=new[1])
    assert paths.key.stat().st_mode & 0o777 == 0o640
    paths.key.write_bytes(old[1])
    with pytest.raises(UnreadableFile, match="is not the key of"):
        read_pair(paths)


def test_the_lock_is_exclusive_and_released_with_its_holder(files):
    paths, _, _ = files
    with held_lock(paths):
        child = subprocess.run(
            [sys.executable, "-c", (
                "from pathlib import Path; from albca.holder.files import PairPaths, held_lock\n"
                f"p = PairPaths(certificate=Path({str(paths.certificate)!r}), key=Path('k'))\n"
                "with held_lock(p): pass\n"
            )],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert child.returncode == 1
        assert f"being renewed by process {os.getpid()}" in child.stderr
    with held_lock(paths):  # released when the first left
        pass
    with held_lock(paths), pytest.raises(LockHeld), held_lock(paths):
        pass  # flock is per open file: a second open in one process is refused too


# -- Windows (issue 16, point 8) ---------------------------------------------------------
# What can be run on Linux: the Windows branch of albca.holder.files selected, with the
# functions Windows' os module does not have taken away (the Python documentation marks
# os.fchmod, os.fchown, os.geteuid, os.getegid, os.pread and os.pwrite "Availability:
# Unix"), so a call to any of them fails as it would there.
WINDOWS_LACKS = ("fchmod", "fchown", "geteuid", "getegid", "pread", "pwrite")


@pytest.fixture
def windows_branch(monkeypatch):
    import albca.holder.files as holder_files

    monkeypatch.setattr(holder_files, "_POSIX", False)
    for name in WINDOWS_LACKS:
        monkeypatch.delattr(os, name)
    opened_directories: list[str] = []
    real_open = os.open

    def no_directories(path, flags, *args):
        # Windows cannot open a directory with os.open (it is not a file there).
        if os.path.isdir(path):
            opened_directories.append(str(path))
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_directories)
    return opened_directories


def test_on_windows_a_pair_is_replaced_read_and_locked(files, windows_branch):
    paths, _, new = files
    with held_lock(paths):
        replace_pair(paths, certificate_pem=new[0], chain_pem=None, key_pem=new[1])
    held = read_pair(paths)
    assert held.certificate.public_bytes(serialization.Encoding.PEM) == new[0]
    assert key_pem(held.key) == new[1]
    assert windows_branch == []  # no directory was opened to fsync
    with held_lock(paths), pytest.raises(LockHeld), held_lock(paths):
        pass


def test_on_windows_a_killed_replacement_is_finished_from_its_journal(files, windows_branch):
    paths, _, new = files

    def killed(step: str) -> None:
        if step == "journal":
            raise KeyboardInterrupt  # stands for the process dying here

    with pytest.raises(KeyboardInterrupt):
        replace_pair(paths, certificate_pem=new[0], chain_pem=None, key_pem=new[1], step=killed)
    assert paths.journal.exists()
    recover(paths)
    held = read_pair(paths)
    assert key_pem(held.key) == new[1]
    assert not paths.journal.exists()


# -- Recovery from another directory (review: a --rekey renewal run with relative paths,
# killed between its renames, then recovered by the systemd unit's absolute paths from "/",
# lost its new key with the journal) -------------------------------------------------------


def test_a_journal_written_from_one_directory_is_finished_from_another(files, tmp_path):
    paths, _, new = files
    relative = PairPaths(certificate=Path(paths.certificate.name), key=Path(paths.key.name))
    assert kill_at(relative, tmp_path, "renamed web.crt", cwd=tmp_path) == -9
    assert paths.journal.exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    held = read_pair_from(paths, elsewhere)
    assert (paths.certificate.read_bytes(), paths.key.read_bytes()) == new
    assert key_pem(held.key) == new[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "elsewhere", "new.crt", "new.key", "web.crt", "web.key",
    ]  # fmt: skip


def test_a_journal_with_relative_paths_from_an_older_albca_is_still_finished(files, tmp_path):
    _, old, new = files
    (tmp_path / "sub").mkdir()
    nested = PairPaths(certificate=tmp_path / "sub" / "web.crt", key=tmp_path / "sub" / "web.key")
    for path, data in ((nested.certificate, new[0]), (nested.key, old[1])):
        path.write_bytes(data)  # the certificate already renamed, the key not yet
    (tmp_path / "sub" / "web.key.albca-new").write_bytes(new[1])
    # As albca wrote it before: the paths as given, relative to its directory (tmp_path).
    nested.journal.write_text(
        json.dumps(
            [
                ["sub/web.crt.albca-new", "sub/web.crt"],
                ["sub/web.key.albca-new", "sub/web.key"],
            ]
        )
    )
    held = read_pair_from(nested, tmp_path / "sub")
    assert key_pem(held.key) == new[1]
    assert not nested.journal.exists()


def test_a_journal_whose_files_cannot_be_found_is_refused_and_nothing_is_deleted(files, tmp_path):
    paths, old, new = files
    new_key_file = tmp_path / "web.key.albca-new"
    new_key_file.write_bytes(new[1])  # the only copy of the new key
    moved = tmp_path / "moved-away"
    journal = json.dumps(
        [
            [str(moved / "web.crt.albca-new"), str(moved / "web.crt")],
            [str(moved / "web.key.albca-new"), str(moved / "web.key")],
        ]
    )
    paths.journal.write_text(journal)
    with pytest.raises(UnreadableFile, match=r"web\.crt\.albca-swap: a half-done replacement"):
        recover(paths)
    assert paths.journal.read_text() == journal
    assert new_key_file.read_bytes() == new[1]
    assert (paths.certificate.read_bytes(), paths.key.read_bytes()) == old


# -- The files albca request wrote beside the pair are one set (review: --rekey on
# NAME.crt.pem left NAME.fullchain.pem holding the old certificate) ------------------------


@pytest.fixture
def requested(tmp_path):
    """NAME.key.pem, NAME.crt.pem, NAME.chain.pem, NAME.fullchain.pem as albca request
    writes them (a self-signed stand-in for the issuing CA as the chain)."""
    old_cert, old_key = self_signed_pair("old")
    chain, _ = self_signed_pair("issuing CA")
    files = new_file_paths(tmp_path, "web", with_p12=False)
    files["private_key"].write_bytes(old_key)
    files["certificate"].write_bytes(old_cert)
    files["chain"].write_bytes(chain)
    files["fullchain"].write_bytes(old_cert + chain)
    new_cert, new_key = self_signed_pair("new")
    return files, chain, (new_cert, new_key)


@pytest.mark.parametrize("given", ["certificate", "fullchain"])
def test_a_rekey_replaces_every_file_albca_request_wrote(requested, given):
    files, chain, (new_cert, new_key) = requested
    paths = pair_with_siblings(files[given], files["private_key"])
    replace_pair(paths, certificate_pem=new_cert, chain_pem=chain, key_pem=new_key)
    assert files["certificate"].read_bytes() == new_cert
    assert files["fullchain"].read_bytes() == new_cert + chain  # still a full chain
    assert files["chain"].read_bytes() == chain
    assert files["private_key"].read_bytes() == new_key
    for label in ("certificate", "fullchain"):
        read_pair(PairPaths(certificate=files[label], key=files["private_key"]))  # matches


def test_a_swap_killed_through_one_name_is_finished_through_the_other(requested, tmp_path):
    files, chain, (new_cert, new_key) = requested
    (tmp_path / "new.crt").write_bytes(new_cert)
    (tmp_path / "new.key").write_bytes(new_key)
    crt = pair_with_siblings(files["certificate"], files["private_key"])
    assert kill_at(crt, tmp_path, "renamed web.crt.pem", family=True) == -9
    # The agent watches the full chain: it finds the journal albca renew left.
    fullchain = pair_with_siblings(files["fullchain"], files["private_key"])
    assert fullchain.lock == crt.lock
    held = read_pair(fullchain)
    assert key_pem(held.key) == new_key
    assert files["fullchain"].read_bytes() == new_cert + chain
    assert not list(tmp_path.glob("*.albca-new")) + list(tmp_path.glob("*.albca-swap"))


def test_files_not_named_as_albca_request_names_them_are_replaced_alone(files):
    paths, _, _ = files
    (paths.certificate.parent / "web.fullchain.pem").write_bytes(b"not touched")
    assert pair_with_siblings(paths.certificate, paths.key) == paths


def read_pair_from(paths, directory):
    """read_pair with the process in ``directory``, the paths absolute."""
    here = os.getcwd()
    os.chdir(directory)
    try:
        return read_pair(paths)
    finally:
        os.chdir(here)
