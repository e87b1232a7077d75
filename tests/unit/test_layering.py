"""The house's import rules (STYLE.md, "The house"), checked on the source.

    albca (cli, compose, ...) -> albca.api, albca.infra -> albca.trust_bundle -> albca.ca

Between packages: ``api`` and ``infra`` never import each other, nothing imports the
composition root, and the core of ``ca`` imports only the standard library and
cryptography (its AWS adapters are the exception, each in a module of its own).

Inside a package, imports point one way too: each package lists its modules in layers,
top first, and a module may import only modules of lower layers. An import that climbs
back up (or sideways, inside one layer) fails here, so a new dependency between two
modules is a decision someone wrote down, not a tower that grows by itself. A module
missing from the layers fails too.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The folders of the design card and the import package each one is installed as.
FOLDERS = {
    "ca": "ca",
    "trust_bundle": "trust_bundle",
    "api": "api",
    "infra": "infra",
    "holder": "holder",
}
PACKAGES = (*FOLDERS, "albca")
MAY_IMPORT = {
    "ca": {"ca"},
    "trust_bundle": {"trust_bundle", "ca"},
    "api": {"api", "trust_bundle", "ca"},
    "infra": {"infra", "trust_bundle", "ca"},
    # What runs on a certificate holder's machine: the plain install, no API server.
    "holder": {"holder", "ca"},
    "albca": set(PACKAGES),
}
# The core of ca/ stays readable and testable alone; these modules are its AWS adapters.
CA_ADAPTERS = {
    "aws_errors",
    "kms_signer",
    "stores.dynamodb",
    "stores.dynamodb_crl_entries",
    "stores.dynamodb_models",
    "stores.dynamodb_notices",
    "stores.dynamodb_table",
}
CA_CORE_MAY_IMPORT = {"cryptography", *sys.stdlib_module_names}
# A holder's laptop has the base dependencies only (never fastapi, uvicorn or pyjwt).
HOLDER_MAY_IMPORT = {"cryptography", "httpx", "filelock", *sys.stdlib_module_names}

# Each package's modules, top layer first. A module imports only from layers below its own.
LAYERS: dict[str, list[set[str]]] = {
    "ca": [
        {"authority", "ca_status"},
        {"der.leaf", "hierarchy", "issuing_thread"},
        {"certificates"},
        {"crl", "key_files", "profiles", "stores.dynamodb", "stores.sqlite"},
        {"stores.dynamodb_crl_entries"},
        {
            "csr",
            "group_commit",
            "issued",
            "kms_signer",
            "policy",
            "serials",
            "signer",
            "stores.dynamodb_models",
        },
        {"stores.dynamodb_notices"},
        {"stores.protocol"},
        {"der.crl_entries"},
        {"keys", "names", "records", "stores.dynamodb_table"},
        {"aws_errors"},
        {
            "clock",
            "der",
            "der.primitives",
            "errors",
            "progress",
            "renewal_token",
            "stores",
            "stores.change_stamp",
        },
    ],
    "trust_bundle": [
        {"maintenance"},
        {"acm_renewals", "revoke", "rotation", "store_for_listener"},
        {"planning"},
        {"trust_stores"},
        {"revocation_sync"},
        {"crl_freshness", "crl_swaps"},
        {"elbv2"},
        {"artefacts"},
        {"alb_rules", "publish", "sync_trail"},
        {"audit_window", "bundle", "errors", "key_ids", "notices"},
    ],
    "infra": [
        {"acm_renewal"},
        {"cloudfront_origin", "https_listener"},
        {
            "acm_inventory",
            "listener_mtls",
            "listener_status",
            "published_trust_store",
            "server_cert",
        },
        {"acm", "classic_elb", "deploy.apply", "deploy.remove", "listeners", "recording"},
        {"deploy.doors"},
        {
            "cloudfront_prefix_list",
            "deploy.lookup",
            "deploy.status",
            "security_groups",
            "target_groups",
            "trust_store_ready",
        },
        {"backend_cert", "bootstrap", "calls", "deploy.package", "deploy.policies"},
        {"acm_rules", "cert_checks", "clients", "cloudfront_rules", "deploy.spec", "ebextensions"},
        {"deploy", "deploy.schedule_times", "errors", "waiting"},
    ],
    "api": [
        {"app"},
        {"fast_issue"},
        {"routes.renewal"},
        {"openapi", "pages", "routes.authority", "routes.certificates", "routes.health"},
        {"body_guard", "deps", "issuing"},
        {"http_errors", "renewal"},
        {"services", "stores", "stores.dynamodb", "stores.key_claims", "stores.sqlite"},
        {"idempotency", "stores.protocols"},
        {"crl_cache", "routes.responses", "tokens"},
        {"audit", "errors", "renewal_token", "routes", "schemas"},
        {"stores.dynamodb_models", "unexpected"},
    ],
    "holder": [
        {"agent"},
        {"bootstrap", "renewal"},
        {"client", "config", "files", "inspect", "keys", "verify"},
        {"errors"},
    ],
}


def package_of(module: str) -> str | None:
    """The house package an absolute import belongs to, or None for anything else."""
    parts = module.split(".")
    if parts[0] != "albca":
        return None
    if len(parts) > 1 and parts[1] in FOLDERS:
        return parts[1]
    return "albca"


def imported_modules(path: Path) -> set[str]:
    """Every absolute module an import statement names, at any depth of the file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
            # `from albca.ca import errors` imports the module albca.ca.errors
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def top_level_imports(path: Path) -> set[str]:
    return {module.split(".")[0] for module in imported_modules(path)}


def files_of(package: str) -> list[Path]:
    folder = ROOT / FOLDERS.get(package, "albca")
    found = sorted(folder.rglob("*.py"))
    if package == "albca":  # the other packages are linked into albca/: not its own files
        found = [path for path in found if path.relative_to(folder).parts[0] not in FOLDERS]
    return found


def module_name(package: str, path: Path) -> str:
    folder = ROOT / FOLDERS.get(package, "albca")
    parts = path.with_suffix("").relative_to(folder).parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def intra_package_imports(package: str, path: Path, known: set[str]) -> set[str]:
    """The modules of the same package this file imports (a name imported from a package
    counts as that package, unless it is one of its modules)."""
    prefix = f"albca.{package}."
    found: set[str] = set()
    for module in imported_modules(path):
        if not module.startswith(prefix):
            continue
        name = module.removeprefix(prefix)
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name:
            found.add(name)
    return found - {module_name(package, path)}


@pytest.mark.parametrize("package", PACKAGES)
def test_packages_import_only_downwards(package):
    for path in files_of(package):
        ours = {package_of(module) for module in imported_modules(path)} - {None}
        forbidden = ours - MAY_IMPORT[package]
        assert not forbidden, f"{path.relative_to(ROOT)} imports {sorted(forbidden)}"  # type: ignore[type-var]


@pytest.mark.parametrize(
    "folder", ["ca", "trust_bundle", "api", "infra", "holder", "albca", "tests", "bench"]
)
def test_nothing_imports_the_folders_as_top_level_packages(folder):
    # Installed, they exist only as albca.ca, albca.api, ... (a bare `import api` would
    # find someone else's `api`, or nothing).
    for path in sorted((ROOT / folder).rglob("*.py")):
        bare = top_level_imports(path) & set(FOLDERS)
        assert not bare, f"{path.relative_to(ROOT)} imports {sorted(bare)} outside albca"


@pytest.mark.parametrize("package", list(LAYERS))
def test_modules_inside_a_package_import_only_lower_layers(package):
    layers = LAYERS[package]
    layer_of = {module: depth for depth, layer in enumerate(layers) for module in layer}
    modules = {module_name(package, path): path for path in files_of(package)}
    modules.pop("", None)  # the package's own __init__
    unplaced = set(modules) - set(layer_of)
    assert not unplaced, f"albca.{package}: place {sorted(unplaced)} in LAYERS"
    gone = set(layer_of) - set(modules)
    assert not gone, f"albca.{package}: LAYERS names modules that do not exist: {sorted(gone)}"
    for module, path in modules.items():
        for imported in intra_package_imports(package, path, set(modules)):
            if imported.startswith(f"{module}."):
                continue  # a sub-package's __init__ gathers its own modules
            assert layer_of[imported] > layer_of[module], (
                f"albca.{package}.{module} imports albca.{package}.{imported}, "
                "which is not in a lower layer"
            )


def test_the_ca_core_imports_only_the_standard_library_and_cryptography():
    for path in files_of("ca"):
        if module_name("ca", path) in CA_ADAPTERS:
            continue
        outside = top_level_imports(path) - CA_CORE_MAY_IMPORT - {"albca"}
        assert not outside, f"{path.relative_to(ROOT)} imports {sorted(outside)}"
        climbing = {package_of(m) for m in imported_modules(path)} - {None, "ca"}
        assert not climbing, f"{path.relative_to(ROOT)} imports {sorted(climbing)}"  # type: ignore[type-var]


def test_the_holder_imports_only_the_standard_library_cryptography_and_httpx():
    for path in files_of("holder"):
        outside = top_level_imports(path) - HOLDER_MAY_IMPORT - {"albca"}
        assert not outside, f"{path.relative_to(ROOT)} imports {sorted(outside)}"


def test_the_rule_checker_sees_imports():
    # Guard against a checker that finds nothing and so could never fail.
    assert package_of("albca.ca.errors") == "ca"
    assert "albca.ca.errors" in imported_modules(ROOT / "api" / "errors.py")
    assert "cryptography" in top_level_imports(ROOT / "ca" / "crl.py")
    assert "api" in {package_of(m) for m in imported_modules(ROOT / "albca" / "server.py")}
    known = {module_name("trust_bundle", p) for p in files_of("trust_bundle")}
    assert "errors" in intra_package_imports(
        "trust_bundle", ROOT / "trust_bundle" / "alb_rules.py", known
    )
