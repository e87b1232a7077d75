"""The progress port (``ca.progress``): the core reports to a plain object, and nothing
below albca/ knows whether a terminal shows it (issue 16, point 5)."""

from __future__ import annotations

from albca.ca.progress import NO_PROGRESS, NoProgress, Progress
from albca.infra.calls import Aws
from albca.infra.waiting import Wait
from tests.aws.test_trust_store_wait import RecordedProgress
from tests.unit.test_layering import FOLDERS, files_of, top_level_imports


def test_nothing_below_albca_imports_rich():
    for package in FOLDERS:
        for path in files_of(package):
            assert "rich" not in top_level_imports(path), f"{path} imports rich"


def test_the_no_op_and_the_recording_progress_are_progress():
    def accepts(progress: Progress) -> Progress:
        return progress

    assert isinstance(accepts(NO_PROGRESS), NoProgress)
    NO_PROGRESS.start("anything", total=3)
    NO_PROGRESS.update("anything")
    NO_PROGRESS.advance(2)
    assert accepts(RecordedProgress()).told == []


def test_a_pause_reports_then_sleeps():
    events: list[str] = []
    progress = RecordedProgress()
    progress.update = lambda description: events.append(f"told: {description}")  # type: ignore[method-assign]
    wait = Wait(
        seconds=900, interval=15, sleep=lambda s: events.append(f"slept {s}"), progress=progress
    )
    wait.pause("CloudFront distribution E2ABC is InProgress, not yet Deployed")
    assert events == [
        "told: CloudFront distribution E2ABC is InProgress, not yet Deployed; waiting up to 900 s",
        "slept 15",
    ]


class _Client:
    def create_thing(self, **params):
        return {"Created": params}


class _Clients:
    def client(self, service, region=None):
        return _Client()


def test_each_aws_change_is_reported_as_it_is_made():
    progress = RecordedProgress()
    aws = Aws(_Clients(), progress=progress)  # type: ignore[arg-type]
    assert aws.change("lambda", "create_thing", Name="f") == {"Created": {"Name": "f"}}
    assert progress.told == ["AWS: lambda create_thing"]
    planned = Aws(_Clients(), dry_run=True, progress=progress)  # type: ignore[arg-type]
    planned.change("lambda", "create_thing", Name="g")
    assert progress.told == ["AWS: lambda create_thing"]  # a dry run makes no call to report
