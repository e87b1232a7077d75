"""``albca issue batch DIR``: every CSR of a directory, or (on any refusal) none."""

from __future__ import annotations

import errno

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.cli.commands import issue as issue_batch_cmd
from tests.factories import ec_key, make_csr


def csr_dir(cli, count: int = 5):
    directory = cli.workdir / "csrs"
    directory.mkdir()
    keys = {}
    for number in range(count):
        key = ec_key()
        pem = make_csr(key, common_name=f"web{number}", dns_names=(f"web{number}.internal",))
        if number % 3 == 2:  # some in DER, as openssl req -outform der writes them
            der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
            (directory / f"web{number}.der").write_bytes(der)
        else:
            (directory / f"web{number}.{'csr' if number % 2 else 'pem'}").write_bytes(pem)
        keys[f"web{number}"] = key
    return directory, keys


def issued(cli):
    return cli.json("list")["certificates"]


def test_every_csr_gets_its_certificate_in_files_named_after_it(initialized):
    directory, keys = csr_dir(initialized)
    out = initialized.workdir / "certs"
    out.mkdir()
    result = initialized.json(
        "issue", "batch", str(directory), "--profile", "server", "--out", str(out)
    )
    assert [entry["common_name"] for entry in result] == [f"web{n}" for n in range(5)]
    assert len(issued(initialized)) == 5
    for entry in result:
        stem = entry["common_name"]
        certificate = x509.load_pem_x509_certificate((out / f"{stem}.crt.pem").read_bytes())
        assert f"{certificate.serial_number:x}" == entry["serial"]
        assert certificate.public_key() == keys[stem].public_key()
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName)
        assert san.value.get_values_for_type(x509.DNSName) == [f"{stem}.internal"]
        chain = x509.load_pem_x509_certificates((out / f"{stem}.fullchain.pem").read_bytes())
        certificate.verify_directly_issued_by(chain[1])
    audit = initialized.json("audit")
    assert sum(event["action"] == "issue" for event in audit) == 5


def test_one_csr_outside_the_profile_issues_nothing(initialized):
    directory, _ = csr_dir(initialized)
    (directory / "bare.csr").write_bytes(make_csr(common_name="bare"))  # no SAN: not a server
    message = initialized.fails("issue", "batch", str(directory), "--profile", "server")
    assert message.startswith("bare.csr: dns_names:")
    assert message.endswith("1 of 6 CSRs refused, nothing was issued")
    assert issued(initialized) == []
    assert not list(initialized.workdir.glob("*.crt.pem"))


def test_unusable_csrs_are_named_and_counted(initialized):
    directory, _ = csr_dir(initialized, count=2)
    (directory / "a-broken.csr").write_bytes(b"-----BEGIN CERTIFICATE REQUEST-----\nnope\n")
    (directory / "b-empty.pem").write_bytes(b"")
    message = initialized.fails("issue", "batch", str(directory), "--profile", "server")
    assert message.startswith("a-broken.csr: csr: not a valid PEM")
    assert "(and 1 more unusable); 2 of 4 CSRs unusable, nothing was issued" in message
    assert issued(initialized) == []


def test_an_existing_output_file_stops_the_batch_before_signing(initialized):
    directory, _ = csr_dir(initialized, count=3)
    (initialized.workdir / "web1.crt.pem").write_text("keep me")
    message = initialized.fails("issue", "batch", str(directory), "--profile", "server")
    assert message.endswith("web1.crt.pem already exists; use --force to overwrite it")
    assert issued(initialized) == []
    assert (initialized.workdir / "web1.crt.pem").read_text() == "keep me"


def test_directory_mistakes_are_one_line_errors(initialized):
    missing = initialized.workdir / "missing"
    assert initialized.fails("issue", "batch", str(missing), "--profile", "client") == (
        f"{missing} is not a directory"
    )
    empty = initialized.workdir / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not a CSR")
    assert "holds no CSR files" in initialized.fails(
        "issue", "batch", str(empty), "--profile", "client"
    )


def test_an_unknown_profile_refuses_every_csr(initialized):
    directory, _ = csr_dir(initialized, count=2)
    message = initialized.fails("issue", "batch", str(directory), "--profile", "nope")
    assert message.startswith("web0.pem: ")
    assert "nope" in message
    assert message.endswith("2 of 2 CSRs refused, nothing was issued")
    assert issued(initialized) == []


def test_a_file_that_cannot_be_written_after_the_commit_names_what_was_issued(
    initialized, monkeypatch
):
    directory, _ = csr_dir(initialized, count=3)
    real_write = issue_batch_cmd.write_output_file_or_raise

    def disk_full_at_web1(path, data, **kwargs):
        if path.name.startswith("web1."):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real_write(path, data, **kwargs)

    monkeypatch.setattr(issue_batch_cmd, "write_output_file_or_raise", disk_full_at_web1)
    message = initialized.fails("issue", "batch", str(directory), "--profile", "server")
    records = {entry["common_name"]: entry["serial"] for entry in issued(initialized)}
    assert sorted(records) == ["web0", "web1", "web2"]  # committed before the write failed
    assert message.startswith(f"cannot write {initialized.workdir / 'web1.crt.pem'}: No space")
    assert "1 of 3 certificates were written; 2 more were issued and recorded" in message
    assert message.endswith(f"{records['web1']} {records['web2']}")
    assert initialized.ok("show", "--pem", records["web2"]).stdout.startswith("-----BEGIN")


def test_an_output_path_that_is_a_directory_stops_the_batch_even_with_force(initialized):
    directory, _ = csr_dir(initialized, count=2)
    (initialized.workdir / "web1.crt.pem").mkdir()
    message = initialized.fails("issue", "batch", str(directory), "--profile", "server", "--force")
    assert message.endswith("web1.crt.pem is a directory; it cannot be replaced by a file")
    assert issued(initialized) == []


@pytest.mark.parametrize(
    ("first", "second"),
    [("a.csr", "a.pem"), ("Host.csr", "host.pem")],  # case-folded: macOS, Windows
)
def test_csr_files_that_would_write_the_same_files_are_refused(initialized, first, second):
    directory = initialized.workdir / "clash"
    directory.mkdir()
    (directory / first).write_bytes(make_csr(common_name="a"))
    (directory / second).write_bytes(make_csr(common_name="b"))
    stem = second.split(".")[0]
    assert initialized.fails("issue", "batch", str(directory), "--profile", "client") == (
        f"{first} and {second} would write the same files ({stem}.crt.pem); rename one"
    )
