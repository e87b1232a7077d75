"""Issue 12's figures: CRL order, published CRLs and served CRLs under concurrent processes.

    python bench/crl_races.py [--rounds 3]

Each round runs, on a fresh CA in a temporary directory (SQLite, this machine's cores
shared by more processes than it has):

- order: 2 processes revoking (100 certificates each) while 3 sign CRLs (150 each)
  through ``Authority``; counts CRLs that lack a revocation some lower-numbered CRL listed;
- publish: 6 processes each revoking, signing and publishing to one file:// directory,
  10 times; counts publishes that found an older CRL published over theirs right after,
  and whether the newest CRL is the one published at the end;
- served: `albca serve --workers 2`, 10 revokes through the API, 6 CRL fetches on fresh
  connections after each; counts fetches lacking the revocation just acknowledged and
  drops of the served CRL number.

The scenarios are the race tests' (tests/races.py), with more work per run.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.races import crl_order_race, publish_race, served_crl_race


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    checked = bad = published = regressed = not_newest = fetched = stale = down = 0
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as directory:
            order = crl_order_race(
                Path(directory) / "order", revokers=2, signers=3, revocations=100, crls=150
            )
            publish = publish_race(Path(directory) / "publish", publishers=6, rounds=10)
            served = served_crl_race(Path(directory) / "served", revokes=10, fetches=6)
        print(f"round: {order}; {publish}; {served}", flush=True)
        checked, bad = checked + order.checked, bad + order.out_of_order
        published, regressed = published + publish.published, regressed + publish.regressed
        not_newest += not publish.final_is_newest
        fetched, stale, down = (
            fetched + served.fetched,
            stale + served.stale,
            down + served.went_down,
        )
    print(f"CRLs checked {checked}, out of order {bad}")
    print(
        f"CRLs published {published}, regressed {regressed}; "
        f"runs ending on an older CRL {not_newest} of {rounds}"
    )
    print(
        f"CRLs served after a revoke {fetched}, stale {stale}; served number went down {down} times"
    )


if __name__ == "__main__":
    main()
