"""A command whose optional libraries are not installed says which extra installs them.

The plain install (`pip install albca`) lacks the api and aws extras; the libraries are
hidden here with a meta path finder in a fresh interpreter, as if never installed.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCKER = """
import sys
from importlib.abc import MetaPathFinder

class Hide(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == h or name.startswith(h + '.') for h in {hidden!r}):
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Hide())
from albca.cli import main
sys.argv = ['albca', *{argv!r}]
main()
"""


def run_without(hidden: set[str], *argv: str, home) -> subprocess.CompletedProcess[str]:
    code = BLOCKER.format(hidden=sorted(hidden), argv=list(argv))
    env = {"ALBCA_HOME": str(home), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.mark.parametrize(
    ("argv", "hidden", "extra"),
    [
        (("serve",), {"uvicorn", "fastapi", "jwt", "mangum"}, "api"),
        (("aws", "check", "--table", "t"), {"boto3", "botocore", "pynamodb"}, "aws"),
    ],
    ids=["serve", "aws-check"],
)
def test_a_missing_extra_is_one_line_naming_it(tmp_path, argv, hidden, extra):
    result = run_without(hidden, *argv, home=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("albca: error: this command needs ")
    assert lines[0].endswith(f"pip install 'albca[{extra}]'")


def test_the_holders_renewal_token_needs_no_extra(tmp_path):
    # A holder's laptop has the plain install: renewal-token reaches its own checks (here:
    # the missing files), never "this command needs".
    hidden = {"uvicorn", "fastapi", "jwt", "mangum", "boto3", "botocore", "pynamodb"}
    result = run_without(
        hidden, "renewal-token", "--cert", "c.pem", "--key", "k.pem", home=tmp_path
    )
    assert result.returncode == 1
    assert (
        result.stderr.strip()
        == "albca: error: --cert: cannot read c.pem: No such file or directory"
    )


def test_an_unknown_missing_module_is_not_disguised_as_an_extra(tmp_path):
    # A module no extra installs is a bug of albca, not of the install: keep the traceback.
    result = run_without({"albca.api"}, "serve", home=tmp_path)
    assert result.returncode == 1
    assert "ModuleNotFoundError" in result.stderr
