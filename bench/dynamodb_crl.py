"""A CRL's read on DynamoDB, under moto: the requests ``next_crl`` sends (issue 17, point 3).

    python bench/store_at_scale.py --skip crl --skip scale --dynamodb 20000
    python bench/dynamodb_crl.py 20000 500000 [--days 90]

``size`` revocations of one issuing CA, of certificates expiring over the next ``--days``
UTC days (90: a CA issuing 90-day certificates steadily; 1: a fleet issued in one batch
and revoked together), random 159-bit serials. One is revoked
through ``DynamoDBStore``; the others are written as the store writes them (their CRL
entries packed by ``ca.stores.dynamodb_crl_entries``' own rules, ``Pack`` and
``pack_key``) with BatchWriteItem: moto copies the whole table on every transaction, so
20,000 revocations through the store would take hours here. Up to 50,000 the certificate
items are written too (the revoked index, which the first CRL reads once); above, not
(moto would need gigabytes), so the first CRL finds the index empty.

Printed per CRL: the requests, the pages of each Query and their items, and the time under
moto (moto's own Query is most of it: it sorts the whole partition for every page). moto
cuts a page at 1,000,000 bytes by its own reckoning of sizes, so the pages DynamoDB would
send are also worked out from the items' sizes by DynamoDB's rules ("Item sizes and
formats": a binary value counts its raw bytes).
"""

from __future__ import annotations

import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from albca.ca.crl import collector_paused

_PAGE_BYTES = 1_000_000  # "1 MB" (DynamoDB Developer Guide, "Query"); moto's figure
_TABLE = "albca-bench"
_ISSUER = "aa" * 20
_DAY = 86_400


def dynamodb_item_size(item: dict[str, Any]) -> int:
    """An item's size by DynamoDB's rules ("Item sizes and formats"): names and values;
    a number about one byte per two significant digits plus one; binary its raw bytes."""
    size = 0
    for name, value in item.items():
        ((kind, content),) = value.items()
        size += len(name.encode())
        if kind == "N":
            digits = content.lstrip("-").replace(".", "").strip("0") or "0"
            size += (len(digits) + 1) // 2 + 1
        elif kind == "B":
            size += len(content)
        else:
            size += len(content.encode())
    return size


def dynamodb_figures(size: int, days: int = 90) -> None:
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):
        os.environ.pop(name, None)
    fake = "testing"  # moto's credentials: nothing leaves this process
    os.environ.update(
        AWS_ACCESS_KEY_ID=fake, AWS_SECRET_ACCESS_KEY=fake, AWS_DEFAULT_REGION="eu-west-1"
    )
    import boto3
    from moto import mock_aws
    from pynamodb.connection import Connection

    from albca.ca.records import AuditEvent, RevocationReason
    from albca.ca.stores.dynamodb import DynamoDBStore
    from albca.ca.stores.dynamodb_models import table_definition
    from tests.factories import T0, issue_event, make_record

    sent: list[tuple[str, str, int]] = []  # operation, what it read, items back
    original = Connection.dispatch

    def dispatch(self: Any, operation: str, arguments: Any) -> Any:
        answer = original(self, operation, arguments)
        items = len(answer.get("Items", ())) if isinstance(answer, dict) else 0
        sent.append((operation, arguments.get("IndexName") or _partition(arguments), items))
        return answer

    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(**table_definition(_TABLE))
        store = DynamoDBStore(_TABLE, region="eu-west-1")
        started = time.perf_counter()
        template = make_record(1 << 158, not_after=T0 + timedelta(days=1))
        store.add_certificate(template, issue_event(template))
        event = AuditEvent(at=T0, action="revoke", actor="bench", serial=template.serial)
        store.revoke_certificate(template.serial, T0, RevocationReason.KEY_COMPROMISE, event)
        certificate = client.get_item(
            TableName=_TABLE, Key={"pk": {"S": f"CERT#{template.serial:040x}"}, "sk": {"S": "CERT"}}
        )["Item"]
        written = _write_revocations(client, certificate, size - 1, int(T0.timestamp()), days)
        client.update_item(
            TableName=_TABLE,
            Key={"pk": {"S": f"CRLNUMBER#{_ISSUER}"}, "sk": {"S": "CRLNUMBER"}},
            UpdateExpression="ADD revocations :more",
            ExpressionAttributeValues={":more": {"N": str(size - 1)}},
        )
        print(
            f"DynamoDB (moto): {size:,} revocations expiring over {days} days, written in "
            f"{time.perf_counter() - started:.0f} s ({written})"
        )
        Connection.dispatch = dispatch  # type: ignore[method-assign]
        try:
            for run in range(4):
                sent.clear()
                taken, snapshot = _timed(lambda: store.next_crl(_ISSUER, T0))
                assert len(snapshot.entries) == size, (len(snapshot.entries), size)
                what = "first CRL (reads the revoked index once)" if run == 0 else "CRL"
                print(f"  {what}: {_requests(sent)}, {taken:.2f} s under moto")
        finally:
            Connection.dispatch = original  # type: ignore[method-assign]
        for _run in range(3):
            parse, join = _client_side(store, int(T0.timestamp()))
            print(
                f"  on albca's side, per CRL: botocore parsing the Query answers "
                f"{parse * 1000:.0f} ms, the store joining the entries {join * 1000:.0f} ms"
            )
        # At most 50,000 entries built (a million small dicts would need gigabytes), the
        # time scaled to ``size``: both parts are linear in the entries.
        sample = min(size, 50_000)
        parse, encode = (seconds * size / sample for seconds in _old_layout_client_side(sample))
        scaled = f" ({sample:,} entries, scaled)" if sample < size else ""
        print(
            f"  before (issue 12's layout: a REVOKED# item and an index item per entry, "
            f"encoded per CRL), per CRL: botocore parsing {parse * 1000:.0f} ms, encoding "
            f"the entries {encode * 1000:.0f} ms{scaled}"
        )
        read = _partition_bytes(client)
        print(
            f"  by DynamoDB's item sizes: {read:,} bytes of packs and REVOKED# items, "
            f"{read / size:.1f} per entry: {-(-read // _PAGE_BYTES)} pages of 1 MB, "
            f"so {-(-read // _PAGE_BYTES) + 3} requests per CRL (with the counter's read and "
            "update and the REVOKED# Query)"
        )
    print()


def _write_revocations(
    client: Any, certificate: dict[str, Any], count: int, now: int, days: int
) -> str:
    """``count`` revocations as the store writes them; what was written."""
    from albca.ca.der.crl_entries import encode_entry
    from albca.ca.stores import dynamodb_crl_entries as crl_entries

    generator = random.Random(5280)
    stored = client.query(  # the pack the store wrote: added to, not overwritten
        TableName=_TABLE,
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": f"CRLENTRIES#{_ISSUER}"}},
        ConsistentRead=True,
    )["Items"]
    packs = {item["sk"]["S"]: crl_entries.Pack.from_raw(item) for item in stored}
    requests: list[dict[str, Any]] = []
    singles = 0

    def put(item: dict[str, Any]) -> None:
        requests.append({"PutRequest": {"Item": item}})
        if len(requests) == 25:
            _flush(client, requests)

    for _ in range(count):
        serial = generator.getrandbits(159)
        not_after = now - now % _DAY + _DAY + generator.randrange(days * _DAY)  # from midnight
        revoked_at = now - generator.randrange(30 * _DAY)
        entry = encode_entry(serial, revoked_at, 1)
        for key in crl_entries.pack_keys(not_after, serial):
            pack = packs.get(key, crl_entries.Pack(key))
            if pack.has_room_for(entry):
                packs[key] = pack.with_entry(entry, not_after)
                break
        else:
            singles += 1
            put(_single(serial, not_after, revoked_at, entry))
        if count <= 50_000:
            put(_certificate_copy(certificate, serial, not_after, revoked_at))
    for pack in packs.values():
        put(_pack_item(pack))
    _flush(client, requests)
    kept = "certificate items too" if count <= 50_000 else "no certificate items"
    return f"{len(packs):,} packs, {singles:,} REVOKED# items, {kept}"


def _flush(client: Any, requests: list[dict[str, Any]]) -> None:
    while requests:
        answer = client.batch_write_item(RequestItems={_TABLE: list(requests)})
        requests[:] = answer.get("UnprocessedItems", {}).get(_TABLE, [])


def _pack_item(pack: Any) -> dict[str, Any]:
    return {
        "pk": {"S": f"CRLENTRIES#{_ISSUER}"},
        "sk": {"S": pack.key},
        "entries": {"B": pack.entries},
        "expiries": {"B": pack.expiries},
        "count": {"N": str(pack.count)},
        "expires_at": {"N": str(pack.day_end + 365 * _DAY)},
    }


def _single(serial: int, not_after: int, revoked_at: int, entry: bytes) -> dict[str, Any]:
    return {
        "pk": {"S": f"REVOKED#{_ISSUER}"},
        "sk": {"S": f"{not_after:012d}#{serial:040x}"},
        "revoked_at": {"N": str(revoked_at)},
        "revocation_reason": {"N": "1"},
        "expires_at": {"N": str(not_after + 365 * _DAY)},
        "entry": {"B": entry},
    }


def _certificate_copy(
    certificate: dict[str, Any], serial: int, not_after: int, revoked_at: int
) -> dict[str, Any]:
    """The template's certificate item for another serial, expiry and revocation time: every
    attribute holding the serial (hex, or as a shard number) or its expiry rewritten."""
    from albca.ca.stores.dynamodb_models import SHARDS

    old_hex, new_hex = certificate["serial"]["S"], f"{serial:040x}"
    copy = {}
    for name, value in certificate.items():
        text = value.get("S")
        if text is not None and old_hex in text:
            value = {"S": text.replace(old_hex, new_hex)}
        elif name.endswith("_shard"):
            value = {"S": f"{text.rsplit('#', 1)[0]}#{serial % SHARDS}"}
        copy[name] = value
    copy["not_after"] = {"N": str(not_after)}
    copy["expiry_key"] = {"S": f"{not_after:012d}#{new_hex}"}
    copy["revoked_at"] = {"N": str(revoked_at)}
    return copy


def _partition_bytes(client: Any) -> int:
    """The bytes a CRL reads by DynamoDB's rules: every pack and REVOKED# item (all
    unexpired here)."""
    total = 0
    for prefix in ("CRLENTRIES#", "REVOKED#"):
        start: dict[str, Any] | None = None
        while True:
            page = client.query(
                TableName=_TABLE,
                KeyConditionExpression="pk = :pk",
                ExpressionAttributeValues={":pk": {"S": prefix + _ISSUER}},
                **({"ExclusiveStartKey": start} if start else {}),
            )
            total += sum(dynamodb_item_size(item) for item in page["Items"])
            start = page.get("LastEvaluatedKey")
            if not start:
                break
    return total


def _client_side(store: Any, now: int) -> tuple[float, float]:
    """Seconds, per CRL, of what runs in albca's process whatever answers the requests:
    botocore parsing the Query answers (the items of each read cut into pages of 1 MB by
    DynamoDB's sizes and sent back through botocore's own parser, base64 and all), and
    the store joining them (``CrlEntries.read``, fed the parsed items)."""
    import base64
    import json

    from albca.ca.stores import dynamodb_crl_entries as crl_entries

    original = crl_entries.pages
    reads: list[list[dict[str, Any]]] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        reads.append(list(original(*args, **kwargs)))
        return iter(reads[-1])

    crl_entries.pages = recording  # type: ignore[assignment]
    try:
        store._crl_entries.read(_ISSUER, now, complete=True)
    finally:
        crl_entries.pages = original  # type: ignore[assignment]

    def wire(value: dict[str, Any]) -> dict[str, Any]:
        ((kind, content),) = value.items()
        return {kind: base64.b64encode(content).decode() if kind == "B" else content}

    bodies: list[list[bytes]] = []
    for items in reads:
        pages: list[list[dict[str, Any]]] = [[]]
        size = 0
        for item in items:
            item_size = dynamodb_item_size(item)
            if pages[-1] and size + item_size > _PAGE_BYTES:
                pages.append([])
                size = 0
            pages[-1].append({name: wire(value) for name, value in item.items()})
            size += item_size
        bodies.append([json.dumps({"Items": page, "Count": len(page)}).encode() for page in pages])
    parse_query = _query_parser()
    with collector_paused():  # as ``Authority.generate_crl`` reads a CRL's entries
        started = time.perf_counter()
        parsed = [[item for body in read for item in parse_query(body)["Items"]] for read in bodies]
        parse = time.perf_counter() - started
        replay = iter(parsed)
        crl_entries.pages = lambda *args, **kwargs: iter(next(replay))  # type: ignore[assignment]
        try:
            join, _ = _timed(lambda: store._crl_entries.read(_ISSUER, now, complete=True))
        finally:
            crl_entries.pages = original  # type: ignore[assignment]
    return parse, join


def _old_layout_client_side(size: int) -> tuple[float, float]:
    """``_client_side`` for the layout before packs: ``size`` REVOKED# items and as many
    revoked-index items (what that CRL read), parsed by botocore, then encoded."""
    import json

    generator = random.Random(5280)
    revoked, indexed = [], []
    for _ in range(size):
        serial = f"{generator.getrandbits(159):040x}"
        expiry = f"{1_770_000_000 + generator.randrange(90 * _DAY):012d}#{serial}"
        common = {"revoked_at": {"N": "1767268800"}, "revocation_reason": {"N": "1"}}
        revoked.append(
            {
                "pk": {"S": f"REVOKED#{_ISSUER}"},
                "sk": {"S": expiry},
                **common,
                "expires_at": {"N": "1800000000"},
            }
        )
        indexed.append(
            {
                "pk": {"S": f"CERT#{serial}"},
                "sk": {"S": "CERT"},
                "revoked_issuer": {"S": _ISSUER},
                "expiry_key": {"S": expiry},
                **common,
            }
        )
    bodies = []
    for items in (revoked, indexed):
        per_page = _PAGE_BYTES // dynamodb_item_size(items[0])
        for start in range(0, size, per_page):
            page = items[start : start + per_page]
            bodies.append(json.dumps({"Items": page, "Count": len(page)}).encode())
    parse_query = _query_parser()
    with collector_paused():  # as ``Authority.generate_crl`` reads a CRL's entries
        return _parse_and_encode(parse_query, bodies)


def _query_parser() -> Any:
    """botocore's own parsing of a Query answer's body, as a client does it."""
    import botocore.session
    from botocore.parsers import create_parser

    model = botocore.session.get_session().get_service_model("dynamodb")
    shape = model.operation_model("Query").output_shape
    parser = create_parser("json")
    return lambda body: parser.parse({"body": body, "headers": {}, "status_code": 200}, shape)


def _parse_and_encode(parse_query: Any, bodies: list[bytes]) -> tuple[float, float]:
    from albca.ca.der.crl_entries import encode_entries
    from albca.ca.records import RevokedEntry

    started = time.perf_counter()
    parsed = [item for body in bodies for item in parse_query(body)["Items"]]
    parse = time.perf_counter() - started
    started = time.perf_counter()
    found = {}
    for raw in parsed:  # as that store did: a value per item, merged by serial, then encoded
        key = raw.get("sk", {}).get("S", "")
        expiry_key = key if "#" in key else raw["expiry_key"]["S"]
        entry = RevokedEntry(
            int(expiry_key.split("#", 1)[1], 16),
            int(raw["revoked_at"]["N"]),
            int(raw["revocation_reason"]["N"]),
        )
        found[entry.serial] = entry
    encode_entries(found.values())
    return parse, time.perf_counter() - started


def _partition(arguments: dict[str, Any]) -> str:
    """What a Query of the table read: the prefix of its partition key (``CRLENTRIES``)."""
    for value in arguments.get("ExpressionAttributeValues", {}).values():
        text = value.get("S", "")
        if "#" in text:
            return text.split("#", 1)[0]
    return "table"


def _requests(sent: list[tuple[str, str, int]]) -> str:
    pages: dict[str, list[int]] = {}
    for operation, read, items in sent:
        if operation == "Query":
            pages.setdefault(read, []).append(items)
    others = len(sent) - sum(len(counts) for counts in pages.values())
    described = "; ".join(
        f"{read}: {len(counts)} pages of up to {max(counts):,} items"
        for read, counts in pages.items()
    )
    return f"{len(sent)} requests ({described}; {others} others)"


def _timed(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sizes", type=int, nargs="*", default=[20_000])
    parser.add_argument("--days", type=int, default=90)
    arguments = parser.parse_args()
    for size in arguments.sizes:
        dynamodb_figures(size, arguments.days)
