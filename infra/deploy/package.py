"""The Lambda deployment package: albca and its dependencies, built for Lambda's Python
runtime and architecture, zipped reproducibly, checked against Lambda's size limits.

Built with pip for the target, never the build machine: ``--platform manylinux2014_x86_64``
or ``manylinux2014_aarch64`` (and the newer manylinux tags Lambda's glibc runs),
``--python-version 3.12``, ``--implementation cp`` and
``--only-binary=:all:`` (pip's documented way to install for another platform, which
requires wheels only). The zip is the same bytes for the same inputs: files in sorted
order, every timestamp 1980-01-01, permissions 0644 (0755 for executables), nothing that
names the build machine (``direct_url.json``, console scripts, ``__pycache__``). So a
rerun computes the CodeSha256 Lambda already has and uploads nothing.

Lambda quotas (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html,
"Function configuration, deployment, and execution"): 50 MB zipped for a direct upload
through the API, 250 MB unzipped including layers; above 50 MB the zip goes through S3.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from albca.infra.errors import SetupRefused

__all__ = [
    "DIRECT_UPLOAD_LIMIT",
    "UNZIPPED_LIMIT",
    "LambdaPackage",
    "PLATFORMS",
    "build_package",
    "pip_install_command",
    "zip_directory",
]

DIRECT_UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes; CreateFunction refuses more (ZipFile)
UNZIPPED_LIMIT = 250 * 1024 * 1024  # bytes; "262144000 bytes" in Lambda's own error
# Lambda's python3.12 runtime runs on Amazon Linux 2023, whose glibc is 2.34 (Lambda
# developer guide, "Lambda runtimes"; AL2023 release notes): manylinux wheels up to
# manylinux_2_34 run there, manylinux2014 (glibc 2.17) first.
PLATFORMS = {
    arch: tuple(f"{tag}_{machine}" for tag in ("manylinux2014", "manylinux_2_28", "manylinux_2_34"))
    for arch, machine in (("x86_64", "x86_64"), ("arm64", "aarch64"))
}
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can hold
_LEFT_OUT = ("direct_url.json",)

Run = Callable[[Sequence[str]], None]


@dataclass(frozen=True)
class LambdaPackage:
    path: Path
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    code_sha256: str  # base64 SHA-256 of the zip: Lambda's CodeSha256

    @property
    def needs_s3(self) -> bool:
        return self.zipped_bytes > DIRECT_UPLOAD_LIMIT

    def read(self) -> bytes:
        return self.path.read_bytes()

    def summary(self) -> str:
        how = "uploaded through S3" if self.needs_s3 else "direct upload"
        return (
            f"package {_mb(self.zipped_bytes)} zipped ({how}; limit {_mb(DIRECT_UPLOAD_LIMIT)} "
            f"direct), {_mb(self.unzipped_bytes)} unzipped (limit {_mb(UNZIPPED_LIMIT)}), "
            f"{self.files} files, CodeSha256 {self.code_sha256}"
        )


def _mb(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def pip_install_command(
    requirements: Sequence[str],
    target: Path,
    *,
    architecture: str,
    python_version: str = "3.12",
    find_links: Sequence[Path] = (),
    no_index: bool = False,
    python: str = sys.executable,
) -> list[str]:
    if architecture not in PLATFORMS:
        raise ValueError(f"architecture {architecture!r}: x86_64 or arm64")
    command = [
        python,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",  # no .pyc of this interpreter's version
        "--target",
        str(target),
        *[option for platform in PLATFORMS[architecture] for option in ("--platform", platform)],
        "--python-version",
        python_version,
        "--implementation",
        "cp",
        "--only-binary=:all:",
    ]
    if no_index:
        command.append("--no-index")
    for directory in find_links:
        command += ["--find-links", str(directory)]
    return [*command, *requirements]


def _run(command: Sequence[str]) -> None:
    result = subprocess.run(list(command), capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise SetupRefused(f"building the Lambda package failed: {last}", rule="pip install")


def build_package(
    requirements: Sequence[str],
    out: Path,
    *,
    architecture: str,
    python_version: str = "3.12",
    find_links: Sequence[Path] = (),
    no_index: bool = False,
    run: Run = _run,
) -> LambdaPackage:
    """pip-installs ``requirements`` for Lambda into a fresh folder and zips it to ``out``."""
    with tempfile.TemporaryDirectory(prefix="albca-package-") as scratch:
        target = Path(scratch) / "package"
        run(
            pip_install_command(
                requirements,
                target,
                architecture=architecture,
                python_version=python_version,
                find_links=find_links,
                no_index=no_index,
            )
        )
        _drop_build_paths(target)
        return zip_directory(target, out)


def _drop_build_paths(target: Path) -> None:
    """Removes what names the build machine, and its lines in each RECORD: console scripts
    (their first line is this machine's interpreter; Lambda runs none of them) and PEP 610's
    direct_url.json (the path of the wheel pip was given)."""
    shutil.rmtree(target / "bin", ignore_errors=True)
    for record in target.glob("*.dist-info/RECORD"):
        dist_info = record.parent.name
        for name in _LEFT_OUT:
            (record.parent / name).unlink(missing_ok=True)
        dropped = tuple(f"{dist_info}/{name}," for name in _LEFT_OUT)
        lines = record.read_text().splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith((*dropped, "../", "bin/"))]
        if kept != lines:
            record.write_text("".join(kept))


def zip_directory(root: Path, out: Path) -> LambdaPackage:
    """Zips ``root`` reproducibly; refuses a package Lambda would refuse."""
    files = sorted(
        (
            path
            for path in root.rglob("*")
            if path.is_file()
            and "__pycache__" not in path.parts
            and path.suffix != ".pyc"
            and path.name not in _LEFT_OUT
        ),
        key=lambda path: path.relative_to(root).as_posix(),
    )
    unzipped = sum(path.stat().st_size for path in files)
    if unzipped > UNZIPPED_LIMIT:
        raise SetupRefused(
            f"the Lambda package is {_mb(unzipped)} unzipped; Lambda takes at most "
            f"{_mb(UNZIPPED_LIMIT)} (Lambda quotas)",
            rule="lambda unzipped size",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w") as archive:
        for path in files:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_FIXED_TIME)
            executable = os.access(path, os.X_OK)
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            info.create_system = 3  # Unix, so the permissions above are read
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, path.read_bytes(), compresslevel=6)
    data = out.read_bytes()
    return LambdaPackage(
        path=out,
        zipped_bytes=len(data),
        unzipped_bytes=unzipped,
        files=len(files),
        code_sha256=base64.b64encode(hashlib.sha256(data).digest()).decode(),
    )
