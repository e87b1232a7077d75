"""--out DIR creates the directory, on every command that takes one (issue client|server,
issue batch, backend cert; backend ebextensions already did)."""

from __future__ import annotations

import stat

from tests.api.helpers import csr_pem


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_issue_creates_its_out_directory_private(initialized):
    out = initialized.workdir / "new" / "certs"
    initialized.ok("issue", "client", "--cn", "alice", "--out", str(out))
    assert (out / "alice.key.pem").is_file()
    assert mode(out) == 0o700  # it receives private keys


def test_issue_batch_creates_its_out_directory(initialized):
    csrs = initialized.workdir / "csrs"
    csrs.mkdir()
    (csrs / "web1.csr").write_text(
        csr_pem(common_name="web1.internal", dns_names=("web1.internal",))
    )
    out = initialized.workdir / "issued"
    initialized.ok("issue", "batch", str(csrs), "--profile", "server", "--out", str(out))
    assert (out / "web1.crt.pem").is_file()


def test_backend_cert_creates_its_out_directory(initialized):
    out = initialized.workdir / "backend"
    initialized.ok("backend", "cert", "--dns", "app.internal", "--out", str(out))
    assert (out / "app.internal.key.pem").is_file()


def test_an_out_that_is_a_file_is_one_line(initialized):
    taken = initialized.workdir / "taken"
    taken.write_text("")
    line = initialized.fails("issue", "client", "--cn", "bob", "--out", str(taken))
    assert line == f"--out {taken} is not a directory"
