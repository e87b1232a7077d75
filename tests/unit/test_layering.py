"""The house's import rules (STYLE.md, "The house"), checked on the source.

    albca -> api, infra -> trust_bundle -> ca

api and infra never import each other, nothing imports albca, and the core of ``ca``
imports only the standard library and cryptography (its AWS adapters are the exception,
each in a module of its own).
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("ca", "trust_bundle", "api", "infra", "albca")
MAY_IMPORT = {
    "ca": {"ca"},
    "trust_bundle": {"trust_bundle", "ca"},
    "api": {"api", "trust_bundle", "ca"},
    "infra": {"infra", "trust_bundle", "ca"},
    "albca": set(PACKAGES),
}
# The core of ca/ stays readable and testable alone; these modules are its AWS adapters.
CA_ADAPTERS = {"dynamodb_store", "dynamodb_models", "dynamodb_table", "kms_signer"}
CA_CORE_MAY_IMPORT = {"cryptography", *sys.stdlib_module_names}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_downwards(package):
    for path in modules(package):
        ours = imports_of(path) & set(PACKAGES)
        forbidden = ours - MAY_IMPORT[package]
        assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"


def test_the_ca_core_imports_only_the_standard_library_and_cryptography():
    for path in modules("ca"):
        if path.stem in CA_ADAPTERS:
            continue
        outside = imports_of(path) - CA_CORE_MAY_IMPORT - {"ca"}
        assert not outside, f"{path.relative_to(ROOT)} imports {sorted(outside)}"


def test_the_rule_checker_sees_imports():
    # Guard against a checker that finds nothing and so could never fail.
    assert "ca" in imports_of(ROOT / "api" / "errors.py")
    assert "cryptography" in imports_of(ROOT / "ca" / "crl.py")
    assert "api" in imports_of(ROOT / "albca" / "server.py")
