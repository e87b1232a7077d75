"""A store's open write (``SqliteStore.try_write_certificates``) whose COMMIT a test holds,
notes or fails: the recording stores of the group commit's tests share it."""

from __future__ import annotations

from collections.abc import Callable

from albca.ca.stores.sqlite import OpenWrite

__all__ = ["commit_through"]


def commit_through(written: OpenWrite, before: Callable[[], Exception | None]) -> OpenWrite:
    """``written``, whose COMMIT first runs ``before`` (on the thread that ends it): when
    that returns an error, the write is rolled back and the error raised instead, as a
    failed COMMIT would."""
    commit = written.commit

    def commit_after_before() -> None:
        error = before()
        if error is not None:
            written.roll_back()
            raise error
        commit()

    written.commit = commit_after_before  # type: ignore[method-assign]
    return written
