"""Revocation syncs take turns across real processes (``RevocationSync``'s lease in the
store), as `albca revoke`, `albca truststore sync`, `albca serve` workers and the
maintenance timer run beside each other over one SQLite file.

The trust store fake keeps its state in the process that installs it, so processes cannot
share one; what is raced here is the turn itself, around a whole run (sign, publish). Each
run's publish marks, in a file every process appends to, that it is inside its turn, waits,
and marks that it left: two runs inside at once would interleave the marks.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

from albca.trust_bundle.publish import FilePublisher, PublishedObject
from albca.trust_bundle.revocation_sync import RevocationSync
from tests.races import make_home, open_authority

_CONTEXT = multiprocessing.get_context("spawn")
RUNS_EACH = 4


class _MarkingPublisher(FilePublisher):
    """Publishes as FilePublisher does, marking in ``marks`` that a run is inside."""

    def __init__(self, directory: Path, marks: Path) -> None:
        super().__init__(directory)
        self.marks = marks

    def publish(self, name: str, data: bytes, *, content_type: str) -> PublishedObject:
        _mark(self.marks, f"in {os.getpid()}")
        time.sleep(0.05)  # long enough for a run without its turn to overlap
        published = super().publish(name, data, content_type=content_type)
        _mark(self.marks, f"out {os.getpid()}")
        return published


def _mark(marks: Path, line: str) -> None:
    fd = os.open(marks, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, f"{line}\n".encode())  # one write with O_APPEND: never torn
    finally:
        os.close(fd)


def _syncer(home: str, start: object) -> None:
    authority = open_authority(Path(home))
    publisher = _MarkingPublisher(Path(home) / "pki", Path(home) / "marks")
    start.wait()  # type: ignore[attr-defined]
    for _ in range(RUNS_EACH):
        RevocationSync(authority=authority, publisher=publisher, trust_stores=None).run(
            actor=f"race-{os.getpid()}"
        )


def test_syncs_in_four_processes_take_turns(tmp_path):
    home = tmp_path / "ca"
    make_home(home, certificates=0)
    start = _CONTEXT.Event()
    processes = [_CONTEXT.Process(target=_syncer, args=(str(home), start)) for _ in range(4)]
    for process in processes:
        process.start()
    start.set()
    for process in processes:
        process.join(120)
    assert [process.exitcode for process in processes] == [0] * 4

    marks = (home / "marks").read_text().split("\n")[:-1]
    assert len(marks) == 4 * RUNS_EACH * 2  # one CRL (one issuing CA) published per run
    pairs = list(zip(marks[::2], marks[1::2], strict=True))
    assert all(
        enter == f"in {pid}" and leave == f"out {pid}"
        for enter, leave in pairs
        for pid in [enter.split()[1]]
    ), marks
    assert len({enter for enter, _ in pairs}) == 4  # every process had its turns
