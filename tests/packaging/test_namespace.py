"""What albca installs: one import package, ``albca``, and nothing a user's code can shadow.

The repository keeps the design card's folders (ca/, api/, trust_bundle/, infra/) at its
top; albca/ links them in (albca/ca -> ../ca, ...), so the wheel, an editable install,
mypy and the tests all see them as albca.ca, albca.api, ... The wheel is built for real
here, from the sdist, as ``python -m build`` does for a release.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
import venv
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from tests.api.helpers import http_api_event

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = ("ca", "api", "trust_bundle", "infra", "holder")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    source = tmp_path_factory.mktemp("src") / "albca"
    # Build from a copy of what a fresh clone holds (symlinks kept as links), with the
    # changes not yet committed.
    tracked = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, tracked.split("\0")):
        origin = ROOT / name
        target = source / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if origin.is_symlink():
            target.symlink_to(origin.readlink())
        elif origin.is_file():
            shutil.copy2(origin, target)
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    (built,) = out.glob("albca-*.whl")
    return built


def record_of(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (record,) = [n for n in archive.namelist() if n.endswith(".dist-info/RECORD")]
        rows = csv.reader(io.StringIO(archive.read(record).decode()))
        return [row[0] for row in rows]


def test_the_wheel_installs_one_top_level_package_albca(wheel):
    paths = record_of(wheel)
    tops = {path.split("/")[0] for path in paths if not path.split("/")[0].endswith(".dist-info")}
    assert tops == {"albca"}
    for folder in FOLDERS:  # each folder of the design card is inside, whole
        expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*.py")}
        shipped = {p.removeprefix("albca/") for p in paths if p.startswith(f"albca/{folder}/")}
        assert expected <= shipped, f"missing from the wheel: {sorted(expected - shipped)}"
    with zipfile.ZipFile(wheel) as archive:
        (top_level,) = [n for n in archive.namelist() if n.endswith("top_level.txt")] or [None]
        if top_level:
            assert archive.read(top_level).decode().split() == ["albca"]


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("venv")
    venv.create(home, with_pip=False)
    python = home / "bin" / "python"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    return python


@pytest.mark.parametrize("name", FOLDERS)
def test_a_fresh_venv_has_no_bare_top_level_package(fresh_venv, name):
    result = subprocess.run(
        [str(fresh_venv), "-I", "-c", f"import {name}"], cwd="/", capture_output=True, text=True
    )
    assert result.returncode != 0
    assert f"No module named '{name}'" in result.stderr


def test_a_fresh_venv_imports_the_namespace(fresh_venv):
    # Installed without its dependencies: albca.ca.errors needs only the standard library,
    # and the packages are found where albca's wheel put them.
    code = (
        "import importlib.util as u, albca.ca.errors\n"
        "names = ['albca.ca', 'albca.api', 'albca.trust_bundle', 'albca.infra']\n"
        "assert all(u.find_spec(n).origin.startswith(albca.__path__[0]) for n in names)\n"
        "print('ok')"
    )
    result = subprocess.run(
        [str(fresh_venv), "-I", "-c", code], cwd="/", capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def dependency_closure(distribution: str, extras: set[str]) -> set[str]:
    """The installed distributions `pip install 'albca[extras]'` would bring in."""
    seen: set[str] = set()
    pending = [(distribution, frozenset(extras))]
    while pending:
        name, wanted = pending.pop()
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            environments = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if requirement.marker and not any(
                requirement.marker.evaluate(env) for env in environments
            ):
                continue
            key = requirement.name.lower()
            if key == "albca":  # an extra naming another extra of albca
                pending.append(("albca", frozenset(requirement.extras)))
                continue
            if key not in seen:
                seen.add(key)
                pending.append((requirement.name, frozenset(requirement.extras)))
    return seen


def install_target(wheel: Path, target: Path, extras: set[str]) -> None:
    """`pip install 'albca[extras]' --target target`, with the dependencies copied from
    this environment's installed files (the tests run without a package index)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    for name in dependency_closure("albca", extras):
        distribution = metadata.distribution(name)
        for file in distribution.files or []:
            if file.parts[0] == ".." or str(file).endswith(".pyc"):
                continue  # console scripts and caches: not part of a Lambda package
            origin = Path(str(distribution.locate_file(file)))
            if origin.is_file():
                (target / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / file)


def test_the_lambda_handler_answers_beside_a_users_own_api_and_infra(wheel, tmp_path):
    package = tmp_path / "package"
    install_target(wheel, package, {"api"})
    for users_own in ("api", "infra", "ca"):  # what a serverless project has beside it
        (package / users_own).mkdir()
        (package / users_own / "__init__.py").write_text("raise ImportError('the user module')\n")
    home = tmp_path / "home"
    passphrase = tmp_path / "passphrase"
    passphrase.write_text("a long enough passphrase\n")
    passphrase.chmod(0o600)
    environment = {
        "ALBCA_HOME": str(home),
        "ALBCA_KEY_PASSPHRASE_FILE": str(passphrase),
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(
        [sys.executable, "-m", "albca", "init", "--org", "Lambda Test"],
        env={**environment, "PYTHONPATH": str(ROOT)},
        check=True,
        capture_output=True,
    )
    event = http_api_event("GET", "/v1/health")
    code = (
        "import json, sys\n"
        f"sys.path[:0] = [{str(package)!r}]\n"
        "assert not any('site-packages' in p for p in sys.path[1:]), sys.path\n"
        "from albca.lambda_handler import handler\n"
        "response = handler(json.loads(sys.stdin.read()), None)\n"
        "print(json.dumps(response))\n"
    )
    # -I: no PYTHONPATH, no user site; -S: no site-packages. What imports comes from the
    # package folder or the standard library.
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code],
        input=json.dumps(event),
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout.strip().splitlines()[-1])
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["status"] == "ok"
