"""A refusal's audit row is written off the event loop: while another process holds the
store's writers (``albca crl``, ``albca issue batch``), the refused request waits for its
row and the loop answers other requests meanwhile. The holder is a real process
(``tests.lock_holders``); nothing is timed.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import httpx
import pytest

from albca.api.app import create_app
from tests.api.helpers import auth, csr_pem
from tests.factories import ec_key
from tests.lock_holders import LockHolder
from tests.loops import on_new_loop, until


@pytest.fixture
def audit_writes(ca) -> threading.Event:
    """Set once the store starts writing an audit row (the refusal's)."""
    store = ca.authority.store
    started = threading.Event()
    append = store.append_audit

    def noted(*args: Any, **kwargs: Any) -> None:
        started.set()
        append(*args, **kwargs)

    store.append_audit = noted
    return started


@pytest.mark.parametrize(
    "path",
    [
        "/v1/certificates",  # the lean issuing path (api.fast_issue)
        "/v1/certificates/generate",  # a FastAPI route's refusal
    ],
)
def test_the_loop_answers_while_a_refusals_audit_row_waits_for_the_store(ca, audit_writes, path):
    app = create_app(ca.api)
    token = ca.token("narrow", names=("*.svc.internal",))
    if path.endswith("/generate"):
        body: dict[str, Any] = {"profile": "server", "dns_names": ["evil.example.com"]}
    else:
        body = {"profile": "server", "csr": csr_pem(ec_key(), dns_names=("evil.example.com",))}
    store_path = ca.authority.store.path
    lock_file = store_path.with_name(store_path.name + ".lock")

    async def scenario() -> tuple[httpx.Response, httpx.Response, bool]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as client:
            with LockHolder("lock-file", lock_file) as holder:
                refused = asyncio.ensure_future(client.post(path, json=body, headers=auth(token)))
                await until(audit_writes.is_set)
                # Had the loop waited for the writers' lock, this would be answered only
                # once the holder gave up (tests.lock_holders.GIVE_UP_S), and then after
                # the refusal.
                health = await client.get("/v1/health")
                still_waiting = not refused.done()
                holder.release()
                return await asyncio.wait_for(refused, 30), health, still_waiting

    refused, health, still_waiting = on_new_loop(scenario)
    assert health.status_code == 200
    assert still_waiting
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "policy_violation"
    rows = ca.audit("api.refused")
    assert [row.actor for row in rows] == ["api:narrow"]
    assert rows[0].detail["code"] == "policy_violation"
