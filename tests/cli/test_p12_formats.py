"""``albca issue --p12`` and ``--p12-legacy`` (issue 16, point 7), each file read by the
tools of the clients it is for: OpenSSL, Java's keytool, NSS's pk12util (Firefox's library)
and cryptography. A tool that is not installed skips its check, saying which.

The legacy file must really be the old format: 3DES (pbeWithSHAAnd3-KeyTripleDES-CBC, RFC
7292 appendix C) for key and certificates, and a SHA-1 MAC, as ``openssl pkcs12 -info``
reports them.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives.serialization import pkcs12

P12_PASSWORD = "correct horse battery"
WRONG = "not the password"
LEGACY_WARNING = (
    "albca: warning: --p12-legacy uses 3DES and a SHA-1 MAC, which are weak; "
    "use it only for clients that cannot read the default (AES-256)"
)
# What `openssl pkcs12 -info` prints for each format (OpenSSL 3).
OPENSSL_SAYS = {
    "--p12": ["MAC: sha256", "PBES2, PBKDF2, AES-256-CBC"],
    "--p12-legacy": ["MAC: sha1", "pbeWithSHA1And3-KeyTripleDES-CBC"],
}


@pytest.fixture(scope="module", params=["--p12", "--p12-legacy"])
def issued_p12(request, tmp_path_factory):
    """One CA, one certificate for alice in the format the parameter asks for."""
    from typer.testing import CliRunner

    from albca.cli import app
    from tests.cli.conftest import PASSPHRASE

    base = tmp_path_factory.mktemp("p12")
    env = {
        "ALBCA_HOME": str(base / "home"),
        "ALBCA_KEY_PASSPHRASE": PASSPHRASE,
        "ALBCA_SQLITE_SYNCHRONOUS": "normal",
        "ALBCA_P12_PASSWORD": P12_PASSWORD,
    }
    runner = CliRunner()
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    result = runner.invoke(
        app,
        ["issue", "client", "--cn", "alice", request.param, "--out", str(base), "--json"],
        env=env,
    )
    assert result.exit_code == 0, result.output
    return request.param, base / "alice.p12", result


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed, so this client's reading is not checked")
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)


def test_only_the_legacy_format_warns(issued_p12):
    option, path, result = issued_p12
    assert path.is_file()
    expected = LEGACY_WARNING if option == "--p12-legacy" else ""
    assert result.stderr.strip() == expected


def test_cryptography_reads_it(issued_p12):
    _, path, _ = issued_p12
    loaded = pkcs12.load_pkcs12(path.read_bytes(), P12_PASSWORD.encode())
    assert loaded.key is not None
    assert loaded.cert is not None
    assert loaded.key.public_key() == loaded.cert.certificate.public_key()
    assert loaded.cert.friendly_name == b"alice"
    assert len(loaded.additional_certs) == 1  # the issuing CA
    with pytest.raises(ValueError, match=r"(?i)invalid password"):
        pkcs12.load_pkcs12(path.read_bytes(), WRONG.encode())


def test_openssl_reads_it_in_the_format_asked_for(issued_p12):
    option, path, _ = issued_p12
    openssl = _tool("openssl")
    info = _run(
        openssl, "pkcs12", "-in", str(path), "-info", "-noout", "-passin", f"pass:{P12_PASSWORD}"
    )
    assert info.returncode == 0, info.stderr
    for fragment in OPENSSL_SAYS[option]:
        assert fragment in info.stderr
    # Certificates and key, both: each encrypted the same way.
    scheme = OPENSSL_SAYS[option][1]
    assert f"PKCS7 Encrypted data: {scheme}" in info.stderr
    assert f"Shrouded Keybag: {scheme}" in info.stderr
    wrong = _run(openssl, "pkcs12", "-in", str(path), "-info", "-noout", "-passin", f"pass:{WRONG}")
    assert wrong.returncode != 0
    assert "Mac verify error" in wrong.stderr


def test_java_keytool_lists_the_key_entry(issued_p12):
    _, path, _ = issued_p12
    keytool = _tool("keytool")
    store = ("-list", "-storetype", "PKCS12", "-keystore", str(path))
    listed = _run(keytool, *store, "-storepass", P12_PASSWORD)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "alice, " in listed.stdout
    assert "PrivateKeyEntry" in listed.stdout
    wrong = _run(keytool, *store, "-storepass", WRONG)
    assert wrong.returncode != 0
    assert "password was incorrect" in wrong.stdout + wrong.stderr


def test_nss_pk12util_lists_key_and_certificates(issued_p12):
    option, path, _ = issued_p12
    pk12util = _tool("pk12util")
    listed = _run(pk12util, "-l", str(path), "-W", P12_PASSWORD)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "Certificate(has private key):" in listed.stdout
    assert "Key(shrouded):" in listed.stdout
    assert "Friendly Name: alice" in listed.stdout
    scheme = (
        "PKCS #12 V2 PBE With SHA-1 And 3KEY Triple DES-CBC"
        if option == "--p12-legacy"
        else "PKCS #5 Password Based Encryption v2"
    )
    assert f"Encryption algorithm: {scheme}" in listed.stdout
    wrong = _run(pk12util, "-l", str(path), "-W", WRONG)
    assert wrong.returncode != 0
    assert "SEC_ERROR_BAD_PASSWORD" in wrong.stdout + wrong.stderr


def test_p12_legacy_from_a_csr_is_refused_before_anything_is_issued(initialized):
    from tests.factories import make_csr

    (initialized.workdir / "e.csr").write_bytes(make_csr(common_name="e"))
    line = initialized.fails("issue", "client", "--csr", "e.csr", "--p12-legacy")
    assert line == (
        "--p12-legacy needs the private key, which a CSR keeps to itself; "
        "drop --csr or --p12-legacy"
    )
    assert initialized.json("list")["certificates"] == []


@pytest.mark.parametrize("command", [("issue", "client"), ("request", "client")])
def test_the_help_names_the_clients_that_need_the_legacy_format(cli, command):
    text = " ".join(cli.ok(*command, "--help", env={"COLUMNS": "300"}).stdout.split())
    assert "--p12-legacy" in text
    for client in (
        "macOS Keychain up to 13",
        "iOS",
        "Android up to 13",
        "Windows before 10 1709",
        "Java before 8u301",
    ):
        assert client in text
