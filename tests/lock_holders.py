"""Another real process holding a SQLite store's writers: its lock file, or SQLite's own
write lock (a program that does not take the lock file: the sqlite3 shell).

The holder releases when told (``release``) or, if the test never gets there (the code
under test blocked the thread that would have told it), after ``GIVE_UP_S`` by itself,
so that a blocked event loop makes the test fail rather than hang.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

__all__ = ["GIVE_UP_S", "LockHolder"]

GIVE_UP_S = 60

_HOLD = textwrap.dedent(
    """
    import fcntl, os, select, sqlite3, sys
    kind, path, give_up = sys.argv[1], sys.argv[2], float(sys.argv[3])
    if kind == "lock-file":
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
    else:
        connection = sqlite3.connect(path, isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")
    print("held", flush=True)
    select.select([sys.stdin], [], [], give_up)  # a line, or the end of stdin
    """
)


class LockHolder:
    """``with LockHolder("lock-file", store.path.with_name(...)) as holder: ...``"""

    def __init__(self, kind: str, path: Path) -> None:
        if kind not in ("lock-file", "sqlite"):
            raise ValueError(f"kind must be 'lock-file' or 'sqlite', not {kind!r}")
        self._process = subprocess.Popen(
            [sys.executable, "-c", _HOLD, kind, str(path), str(GIVE_UP_S)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def __enter__(self) -> LockHolder:
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        assert line.strip() == "held", f"the holder did not take the lock: {line!r}"
        return self

    def release(self) -> None:
        """Let go (the process exits, its locks with it); returns once it has."""
        if self._process.poll() is None:
            assert self._process.stdin is not None
            self._process.stdin.close()
        assert self._process.wait(timeout=30) == 0

    def __exit__(self, *_: object) -> None:
        if self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=30)
        for pipe in (self._process.stdin, self._process.stdout):
            if pipe is not None:
                pipe.close()
