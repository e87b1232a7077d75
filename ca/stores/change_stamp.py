"""Whether a SQLite file may have changed since a value was read from it, cheaply.

``PRAGMA data_version`` changes when *another* connection (another thread's, another
process's: the CLI revoking a token, retiring a CA) commits to the file; SQLite's
documentation ("PRAGMA data_version"): "The integer values returned by two invocations of
'PRAGMA data_version' from the same connection will be different if changes were committed
to the database by any other connection in the interim." Commits through the reading
connection itself do not change it, so the writers of this process also count their
commits here. A value read after taking a stamp is still current while the stamp reads
the same: one small statement instead of a query and the building of its rows.
"""

from __future__ import annotations

import sqlite3
import threading

__all__ = ["ChangeStamp"]


class ChangeStamp:
    def __init__(self) -> None:
        self._generation = 0
        self._lock = threading.Lock()

    def wrote(self) -> None:
        """Call after each write transaction through a connection of this process, whether
        it committed or not (a needless re-read costs little; a missed one would not)."""
        with self._lock:
            self._generation += 1

    def read(self, connection: sqlite3.Connection) -> tuple[int, int]:
        """The stamp to keep beside a value read through ``connection`` right after."""
        generation = self._generation
        return (int(connection.execute("PRAGMA data_version").fetchone()[0]), generation)
