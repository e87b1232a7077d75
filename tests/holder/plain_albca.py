"""``albca`` as a certificate holder's machine has it: the plain install, without the
``api`` extra. Importing any of the API server's libraries fails here, so a holder
command that needs one fails its test."""

from __future__ import annotations

import sys

SERVER_ONLY = {"fastapi", "starlette", "uvicorn", "jwt", "mangum", "boto3", "pynamodb"}


class _NotInstalled:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in SERVER_ONLY:
            raise ModuleNotFoundError(f"No module named {name!r} (a holder's plain install)")
        return


sys.meta_path.insert(0, _NotInstalled())

from albca.cli import main  # noqa: E402

main()
