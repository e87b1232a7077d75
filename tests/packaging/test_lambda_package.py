"""The Lambda deployment package ``albca aws deploy`` uploads, built for real.

pip installs ``albca[aws,api]`` for a target platform (``--platform``, ``--python-version``,
``--only-binary=:all:``) from a local wheelhouse (no network in tests): albca's own wheel,
built from this source, and the wheels of its dependencies rebuilt from this environment's
installed files. The target is this machine's interpreter and architecture (Lambda's would
need wheels this offline machine does not have), so the handler can then be imported and
called in a clean interpreter (-I -S) with only the package on sys.path.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
import zipfile
from collections import defaultdict
from importlib import metadata
from pathlib import Path

import pytest

from albca.compose.deploy import build_albca_package
from albca.infra.deploy.package import DIRECT_UPLOAD_LIMIT, UNZIPPED_LIMIT
from tests.api.helpers import http_api_event
from tests.packaging.test_namespace import dependency_closure

ROOT = Path(__file__).resolve().parents[2]
PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
SCHEDULER_EVENT = {"albca": "maintain"}  # the schedule's Input is the whole event

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64" or sys.platform != "linux",
    reason="the wheelhouse is rebuilt from this environment: linux x86_64 wheels",
)


def installed_wheel(name: str, out: Path) -> Path:
    """A wheel of an installed distribution, made from its installed files (the files its
    RECORD lists, with its WHEEL file's tags), as the wheel it was installed from."""
    distribution = metadata.distribution(name)
    wheel_text = distribution.read_text("WHEEL") or ""
    tags = [
        line.split(":", 1)[1].strip() for line in wheel_text.splitlines() if line.startswith("Tag:")
    ]
    parts: dict[int, set[str]] = defaultdict(set)
    for tag in tags:
        for index, part in enumerate(tag.split("-")):
            parts[index].add(part)
    tag_text = "-".join(".".join(sorted(parts[i])) for i in range(3))
    project = distribution.metadata["Name"].replace("-", "_").replace(".", "_")
    path = out / f"{project}-{distribution.version}-{tag_text}.whl"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in distribution.files or []:
            if file.parts[0] == ".." or "__pycache__" in file.parts:
                continue  # console scripts and caches
            origin = Path(str(distribution.locate_file(file)))
            if origin.is_file():
                archive.write(origin, str(file))
    return path


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheelhouse")
    for name in dependency_closure("albca", {"aws", "api"}):
        installed_wheel(name, out)
    return out


@pytest.fixture(scope="module")
def built(wheelhouse, tmp_path_factory):
    out = tmp_path_factory.mktemp("package")
    return [
        build_albca_package(
            out / f"albca-{n}.zip",
            architecture="x86_64",
            python_version=PYTHON,
            find_links=[wheelhouse],
            no_index=True,
        )
        for n in (1, 2)
    ]


def test_the_package_is_the_same_bytes_every_time(built):
    first, second = built
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.code_sha256 == second.code_sha256


def test_the_package_has_fixed_order_times_and_permissions_and_no_build_paths(built):
    package = built[0]
    with zipfile.ZipFile(package.path) as archive:
        entries = archive.infolist()
    names = [e.filename for e in entries]
    assert names == sorted(names)
    assert {e.date_time for e in entries} == {(1980, 1, 1, 0, 0, 0)}
    assert {e.external_attr >> 16 for e in entries} <= {0o100644, 0o100755}
    assert not [n for n in names if n.endswith((".pyc", "direct_url.json")) or n.startswith("bin/")]
    assert "albca/lambda_handler.py" in names
    assert any(n.startswith("mangum/") for n in names)
    assert any(n.startswith("pynamodb/") for n in names)


def test_the_package_fits_lambdas_limits_and_says_its_size(built):
    package = built[0]
    assert package.zipped_bytes == package.path.stat().st_size
    assert package.zipped_bytes < package.unzipped_bytes <= UNZIPPED_LIMIT
    assert package.needs_s3 == (package.zipped_bytes > DIRECT_UPLOAD_LIMIT)
    assert "MB zipped" in package.summary()
    assert "MB unzipped" in package.summary()


@pytest.fixture(scope="module")
def unpacked(built, tmp_path_factory):
    folder = tmp_path_factory.mktemp("unpacked")
    with zipfile.ZipFile(built[0].path) as archive:
        archive.extractall(folder)
    home = tmp_path_factory.mktemp("home")
    passphrase = home.parent / "passphrase"
    passphrase.write_text("a long enough passphrase\n")
    passphrase.chmod(0o600)
    environment = {
        "ALBCA_HOME": str(home / "ca"),
        "ALBCA_KEY_PASSPHRASE_FILE": str(passphrase),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(
        [sys.executable, "-m", "albca", "init", "--org", "Lambda Package Test"],
        env={**environment, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    return folder, environment


def call_handler(unpacked, event) -> subprocess.CompletedProcess[str]:
    folder, environment = unpacked
    code = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(folder)!r}]\n"
        "assert not any('site-packages' in p for p in sys.path), sys.path\n"
        "from albca.lambda_handler import handler\n"
        "response = handler(json.loads(sys.stdin.read()), None)\n"
        "print(json.dumps(response))\n"
    )
    # -I: no PYTHONPATH, no user site; -S: no site-packages: only the package and the
    # standard library can be imported.
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        input=json.dumps(event),
        env=environment,
        cwd=folder.parent,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_packaged_handler_answers_an_http_event(unpacked):
    result = call_handler(unpacked, http_api_event("GET", "/v1/health"))
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["status"] == "ok"


def test_the_packaged_handler_runs_maintenance_for_a_scheduler_event(unpacked):
    result = call_handler(unpacked, SCHEDULER_EVENT)
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout.strip().splitlines()[-1])
    assert "statusCode" not in response  # not an HTTP answer: a maintenance run's
