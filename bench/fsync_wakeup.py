"""How long a write + fdatasync takes here, with the process otherwise idle and with a
thread that keeps waking (without holding the GIL) while the fdatasync is outstanding.

    .venv/bin/python bench/fsync_wakeup.py [--rounds 8] [--sleep 0]

Why (issue 17): in the same interleaved runs of bench/api_issuance.py, cfssl's SQLite
commits (one fdatasync each, strace shows it) took 0.3-0.7 ms while albca's took 2-7 ms at
one client, with albca's server at about 35% CPU: it waits for the disk. On this VM a
process that sleeps in fdatasync with nothing else runnable lets its vCPU go idle, and the
completion seems to take longer to reach it; Go's runtime keeps threads awake (sysmon,
spinning threads) during a syscall. This prints both figures, interleaved, in each round.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.0, help="the waking thread's sleep")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        fd = os.open(os.path.join(directory, "f.bin"), os.O_RDWR | os.O_CREAT, 0o600)
        os.pwrite(fd, b"\0" * 4096 * 256, 0)
        os.fsync(fd)
        outstanding = threading.Event()

        def waking() -> None:
            while True:
                outstanding.wait()
                time.sleep(args.sleep)  # releases the GIL; the vCPU stays busy

        threading.Thread(target=waking, daemon=True).start()

        def per_sync(wake: bool) -> float:
            started = time.perf_counter()
            for i in range(60):
                os.pwrite(fd, os.urandom(10240), (i % 16) * 65536)
                if wake:
                    outstanding.set()
                os.fdatasync(fd)
                outstanding.clear()
            return (time.perf_counter() - started) / 60 * 1e6

        for round_ in range(args.rounds):
            idle, awake = per_sync(False), per_sync(True)
            print(f"round {round_}: write+fdatasync idle {idle:6.0f} us   "
                  f"with a waking thread {awake:6.0f} us   ratio {awake / idle:4.2f}")  # fmt: skip
        os.close(fd)


if __name__ == "__main__":
    main()
