"""The hand-written CRL encoder, judged by cryptography, OpenSSL and pkilint."""

from __future__ import annotations

import gc
import random
import re
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from albca.ca.crl import build_crl, collector_paused
from albca.ca.keys import KeySpec, signature_hash
from albca.ca.records import RevocationReason, RevokedEntry
from tests.unit.assertions import extension
from tests.unit.pki_tools import lint_crl, openssl, read_elements, tbs_fields, write_pem

ALL_SPECS = list(KeySpec)
THIS_UPDATE = datetime(2026, 2, 1, 8, 30, 0, tzinfo=UTC)
NEXT_UPDATE = THIS_UPDATE + timedelta(days=7)

_HASH_NAME = {
    KeySpec.EC_P256: "sha256",
    KeySpec.EC_P384: "sha384",
    KeySpec.EC_P521: "sha512",
    KeySpec.RSA_2048: "sha256",
    KeySpec.RSA_3072: "sha256",
    KeySpec.RSA_4096: "sha256",
}


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


# Serials of every encoded size that matters (one octet, a sign-bit pad, the 20-octet
# maximum) and one entry per reason albca offers.
ENTRIES = [
    RevokedEntry(serial, epoch(THIS_UPDATE - timedelta(hours=index + 1)), int(reason))
    for index, (serial, reason) in enumerate(
        zip(
            [1, 0x7F, 0x80, 0xFF, 0x100, 0x8000, 0x1234567890ABCDEF, 2**159 - 1],
            list(RevocationReason),
            strict=True,
        )
    )
]


def make_crl(ca, entries=ENTRIES, *, number=42, this_update=THIS_UPDATE, next_update=NEXT_UPDATE):
    return build_crl(
        issuer=ca.issuing,
        signer=ca.issuing_signer,
        number=number,
        this_update=this_update,
        next_update=next_update,
        entries=entries,
    )


@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_crl_parses_back_and_its_signature_verifies(hierarchies, spec):
    ca = hierarchies.get(spec)
    document = make_crl(ca)
    crl = x509.load_der_x509_crl(document.der)
    assert crl.is_signature_valid(ca.issuing.public_key())
    assert not crl.is_signature_valid(ca.root.public_key())
    assert crl.signature_hash_algorithm is not None
    assert crl.signature_hash_algorithm.name == _HASH_NAME[spec]
    assert crl.issuer == ca.issuing.subject
    assert crl.last_update_utc == THIS_UPDATE
    assert crl.next_update_utc == NEXT_UPDATE
    assert extension(crl, x509.CRLNumber).value.crl_number == 42
    aki = extension(crl, x509.AuthorityKeyIdentifier)
    assert not aki.critical
    assert aki.value.key_identifier == extension(ca.issuing, x509.SubjectKeyIdentifier).value.digest
    assert len(crl) == len(ENTRIES)
    assert (document.number, document.entries) == (42, len(ENTRIES))
    assert document.issuer_key_id == ca.issuing_record.key_id


def test_crl_is_version_2(hierarchies):
    fields = tbs_fields(make_crl(hierarchies.get(KeySpec.EC_P256)).der)
    assert fields[0].encoded.hex() == "020101"  # v2(1): needed for extensions


def test_every_entry_keeps_its_serial_time_and_reason(hierarchies):
    crl = x509.load_der_x509_crl(make_crl(hierarchies.get(KeySpec.EC_P256)).der)
    for entry in ENTRIES:
        revoked = crl.get_revoked_certificate_by_serial_number(entry.serial)
        assert revoked is not None, f"serial {entry.serial:x} is missing"
        assert epoch(revoked.revocation_date_utc) == entry.revoked_at
        if entry.reason == RevocationReason.UNSPECIFIED:
            # RFC 5280 section 5.3.1: reasonCode unspecified SHOULD be absent.
            assert len(revoked.extensions) == 0
        else:
            reason = extension(revoked, x509.CRLReason)
            assert not reason.critical
            assert _crl_reason_value(reason.value.reason) == entry.reason


_REASON_CODES = {
    x509.ReasonFlags.unspecified: 0,
    x509.ReasonFlags.key_compromise: 1,
    x509.ReasonFlags.ca_compromise: 2,
    x509.ReasonFlags.affiliation_changed: 3,
    x509.ReasonFlags.superseded: 4,
    x509.ReasonFlags.cessation_of_operation: 5,
    x509.ReasonFlags.certificate_hold: 6,
    x509.ReasonFlags.remove_from_crl: 8,
    x509.ReasonFlags.privilege_withdrawn: 9,
    x509.ReasonFlags.aa_compromise: 10,
}


def _crl_reason_value(flag: x509.ReasonFlags) -> int:
    return _REASON_CODES[flag]


@pytest.mark.parametrize("spec", ALL_SPECS, ids=str)
def test_openssl_verifies_the_crl_against_the_issuing_ca(tmp_path, hierarchies, spec):
    ca = hierarchies.get(spec)
    crl_path = tmp_path / "issuing.crl.pem"
    crl_path.write_bytes(make_crl(ca).pem)
    issuing = write_pem(tmp_path / "issuing.pem", ca.issuing)
    result = openssl("crl", "-in", crl_path, "-CAfile", issuing, "-verify", "-noout")
    assert result.returncode == 0, result.stderr
    assert "verify OK" in result.stderr


def test_openssl_refuses_the_crl_against_another_ca(tmp_path, hierarchies):
    crl_path = tmp_path / "issuing.crl.pem"
    crl_path.write_bytes(make_crl(hierarchies.get(KeySpec.EC_P256)).pem)
    other = write_pem(tmp_path / "other.pem", hierarchies.get(KeySpec.EC_P256, "other").issuing)
    result = openssl("crl", "-in", crl_path, "-CAfile", other, "-verify", "-noout")
    assert "verify failure" in result.stderr


def test_openssl_reads_reasons_and_serials(tmp_path, hierarchies):
    crl_path = tmp_path / "issuing.crl"
    crl_path.write_bytes(make_crl(hierarchies.get(KeySpec.RSA_2048)).der)
    result = openssl("crl", "-inform", "DER", "-in", crl_path, "-noout", "-text")
    assert result.returncode == 0, result.stderr
    assert "Key Compromise" in result.stdout
    assert "Privilege Withdrawn" in result.stdout
    assert "Serial Number: 7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF" in result.stdout
    assert re.search(r"CRL Number: *\n *42\n", result.stdout), result.stdout


def test_an_empty_crl_leaves_out_the_revoked_certificates_field(tmp_path, hierarchies):
    ca = hierarchies.get(KeySpec.EC_P256)
    document = make_crl(ca, entries=[])
    # version, signature, issuer, thisUpdate, nextUpdate, [0] crlExtensions: no empty
    # SEQUENCE between nextUpdate and the extensions (RFC 5280 section 5.1.2.6).
    assert [field.tag for field in tbs_fields(document.der)] == [0x02, 0x30, 0x30, 0x17, 0x17, 0xA0]
    crl = x509.load_der_x509_crl(document.der)
    assert len(crl) == 0
    assert crl.is_signature_valid(ca.issuing.public_key())
    assert document.entries == 0
    assert lint_crl(document.der) == []


def test_a_crl_with_entries_has_the_revoked_certificates_field(hierarchies):
    tags = [field.tag for field in tbs_fields(make_crl(hierarchies.get(KeySpec.EC_P256)).der)]
    assert tags == [0x02, 0x30, 0x30, 0x17, 0x17, 0x30, 0xA0]


def _time_fields(der: bytes) -> tuple[bytes, bytes, list[bytes]]:
    fields = tbs_fields(der)
    this_update, next_update = fields[3].encoded, fields[4].encoded
    entries = []
    if fields[5].tag == 0x30:
        for entry in read_elements(fields[5].content):
            entries.append(read_elements(entry.content)[1].encoded)
    return this_update, next_update, entries


def test_times_on_both_sides_of_2050_are_encoded_as_cryptography_encodes_them(hierarchies):
    ca = hierarchies.get(KeySpec.EC_P256)
    before = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)
    after = datetime(2050, 1, 1, 0, 0, 1, tzinfo=UTC)
    ours = make_crl(
        ca,
        entries=[RevokedEntry(5, epoch(before), 1), RevokedEntry(6, epoch(after), 1)],
        this_update=before,
        next_update=after,
    )
    reference = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.issuing.subject)
        .last_update(before)
        .next_update(after)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(5).revocation_date(before).build()
        )
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(6).revocation_date(after).build()
        )
        .sign(ca.issuing_signer.private_key, signature_hash(ca.spec))
    )
    ours_times = _time_fields(ours.der)
    reference_times = _time_fields(reference.public_bytes(serialization.Encoding.DER))
    assert ours_times == reference_times
    assert ours_times[0][0] == 0x17  # UTCTime through 2049
    assert ours_times[1][0] == 0x18  # GeneralizedTime from 2050
    parsed = x509.load_der_x509_crl(ours.der)
    assert (parsed.last_update_utc, parsed.next_update_utc) == (before, after)
    assert parsed.get_revoked_certificate_by_serial_number(6).revocation_date_utc == after


@pytest.mark.parametrize("spec", [KeySpec.EC_P384, KeySpec.RSA_3072], ids=str)
def test_pkilint_finds_nothing_wrong_in_a_full_crl(hierarchies, spec):
    findings = lint_crl(make_crl(hierarchies.get(spec)).der)
    assert findings == [], "\n".join(map(str, findings))


def test_pem_is_the_der_in_64_character_lines(hierarchies):
    document = make_crl(hierarchies.get(KeySpec.EC_P256))
    lines = document.pem.decode().splitlines()
    assert lines[0] == "-----BEGIN X509 CRL-----"
    assert lines[-1] == "-----END X509 CRL-----"
    assert all(len(line) == 64 for line in lines[1:-2])
    assert 0 < len(lines[-2]) <= 64
    assert x509.load_pem_x509_crl(document.pem).public_bytes(serialization.Encoding.DER) == (
        document.der
    )


def test_build_crl_refuses_a_next_update_not_after_this_update(hierarchies):
    with pytest.raises(ValueError, match="next_update must be after this_update"):
        make_crl(hierarchies.get(KeySpec.EC_P256), next_update=THIS_UPDATE)


def test_build_crl_refuses_a_negative_number(hierarchies):
    with pytest.raises(ValueError, match="number must not be negative"):
        make_crl(hierarchies.get(KeySpec.EC_P256), number=-1)


@pytest.mark.slow
def test_twenty_thousand_entries_parse_back_intact(hierarchies):
    ca = hierarchies.get(KeySpec.EC_P256)
    rng = random.Random(5280)
    reasons = [int(reason) for reason in RevocationReason]
    start = epoch(THIS_UPDATE) - 400 * 86_400
    entries = [
        RevokedEntry(rng.getrandbits(159) | 1, start + index * 1_733, reasons[index % len(reasons)])
        for index in range(20_000)
    ]
    expected = {entry.serial: entry for entry in entries}
    assert len(expected) == len(entries)

    document = make_crl(ca, entries=entries)
    crl = x509.load_der_x509_crl(document.der)
    assert crl.is_signature_valid(ca.issuing.public_key())
    assert document.entries == len(crl) == 20_000
    seen = {}
    for revoked in crl:
        reason = 0
        for ext in revoked.extensions:
            reason = _crl_reason_value(ext.value.reason)
        seen[revoked.serial_number] = RevokedEntry(
            revoked.serial_number, epoch(revoked.revocation_date_utc), reason
        )
    assert seen == expected


def test_the_collector_is_paused_during_a_load_and_back_after_it_even_on_error():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(RuntimeError), collector_paused():
        raise RuntimeError("the store failed")
    assert gc.isenabled()


def test_a_collector_paused_by_someone_else_stays_paused():
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
