"""Issue 12, point 4: `albca serve --workers 2` serves CRLs that hold every revocation it
acknowledged, and never a lower number than before, whichever worker answers."""

from __future__ import annotations

from tests.races import served_crl_race


def test_every_crl_served_after_a_revoke_lists_it_and_numbers_never_go_down(tmp_path):
    # Before the fix: 13 of 30 fetches lacked the revocation just acknowledged.
    figures = served_crl_race(tmp_path, revokes=5, fetches=6)
    assert figures.fetched == 30
    assert (figures.stale, figures.went_down) == (0, 0), figures
