"""The Lambda package ``albca aws deploy`` uploads: its size, and the handler's cold start
(import + app build) in a clean interpreter.

    .venv/bin/python bench/deploy_package.py [--runs N] [--for-lambda]

Default: the package is built for this machine's interpreter and architecture from a
wheelhouse rebuilt from this environment's installed files (offline, as the tests do),
then unzipped; each run is a fresh ``python -I -S`` with only the package on sys.path,
timing ``import albca.lambda_handler`` and the first ``handler(GET /v1/health)`` (which
builds the app from the settings: a SQLite CA home here, file keys). ``--for-lambda``
builds the real target instead (python 3.12, arm64, from the package index: needs the
network) and reports its size only: it cannot run here.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from albca.compose.deploy import build_albca_package  # noqa: E402
from tests.api.helpers import http_api_event  # noqa: E402
from tests.packaging.test_lambda_package import installed_wheel  # noqa: E402
from tests.packaging.test_namespace import dependency_closure  # noqa: E402

PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
COLD_START = """
import json, sys, time
sys.path[:0] = [{folder!r}]
started = time.perf_counter()
import albca.lambda_handler as entry
imported = time.perf_counter()
response = entry.handler(json.loads({event!r}), None)
answered = time.perf_counter()
assert response["statusCode"] == 200, response
print(json.dumps({{"import": imported - started, "first_request": answered - imported}}))
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--for-lambda", action="store_true")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        if options.for_lambda:
            package = build_albca_package(work / "albca.zip", architecture="arm64")
            print(f"python 3.12 arm64 (Lambda): {package.summary()}")
            return
        wheelhouse = work / "wheelhouse"
        wheelhouse.mkdir()
        for name in dependency_closure("albca", {"aws", "api"}):
            installed_wheel(name, wheelhouse)
        package = build_albca_package(
            work / "albca.zip",
            architecture="x86_64",
            python_version=PYTHON,
            find_links=[wheelhouse],
            no_index=True,
        )
        print(f"python {PYTHON} x86_64: {package.summary()}")
        folder = work / "package"
        with zipfile.ZipFile(package.path) as archive:
            archive.extractall(folder)
        environment = _ca_home(work)
        code = COLD_START.format(
            folder=str(folder), event=json.dumps(http_api_event("GET", "/v1/health"))
        )
        runs = []
        for _ in range(options.runs):
            result = subprocess.run(
                [sys.executable, "-I", "-S", "-c", code],
                env=environment,
                cwd=work,
                capture_output=True,
                text=True,
                check=True,
            )
            runs.append(json.loads(result.stdout.strip().splitlines()[-1]))
        for key in ("import", "first_request"):
            values = [run[key] * 1000 for run in runs]
            print(
                f"cold start, {key}: median {statistics.median(values):.0f} ms "
                f"(min {min(values):.0f}, max {max(values):.0f}; {len(values)} runs)"
            )
        totals = [(run["import"] + run["first_request"]) * 1000 for run in runs]
        print(
            "cold start, import + app build + first request: "
            f"median {statistics.median(totals):.0f} ms"
        )


def _ca_home(work: Path) -> dict[str, str]:
    passphrase = work / "passphrase"
    passphrase.write_text("a long enough passphrase\n")
    passphrase.chmod(0o600)
    environment = {
        "ALBCA_HOME": str(work / "home"),
        "ALBCA_KEY_PASSPHRASE_FILE": str(passphrase),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(
        [sys.executable, "-m", "albca", "init", "--org", "Bench"],
        env={**environment, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    return environment


if __name__ == "__main__":
    main()
