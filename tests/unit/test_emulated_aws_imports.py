"""The emulated AWS states AWS's rules itself (issue 11, point 5): a fake that enforced a
rule by calling albca's own check could never catch that check being wrong. So no module
of ``albca.emulated_aws`` may import albca's libraries, except the client factory its
stack puts the fakes behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.test_layering import ROOT, imported_modules

EMULATED = ROOT / "albca" / "emulated_aws"
# What the emulation may take from the product: the plumbing, never a rule.
ALLOWED = {"albca.infra.clients", "albca.infra.clients.AwsClients"}
FORBIDDEN = ("albca.ca", "albca.trust_bundle", "albca.infra", "albca.api")


def product_imports(path: Path) -> set[str]:
    return {
        module
        for module in imported_modules(path)
        if module.startswith(FORBIDDEN) and module not in ALLOWED
    }


@pytest.mark.parametrize("path", sorted(EMULATED.glob("*.py")), ids=lambda p: p.name)
def test_the_emulated_aws_imports_none_of_albcas_checks(path):
    found = product_imports(path)
    assert not found, f"{path.relative_to(ROOT)} imports {sorted(found)}: state the rule itself"


def test_the_import_check_sees_a_forbidden_import(tmp_path):
    # Guard against a check that could never fail: both kinds of import statement, at any
    # depth (the CloudFront fake once imported its rules inside a method).
    module = tmp_path / "fake.py"
    module.write_text(
        "from albca.trust_bundle.alb_rules import check_bundle\n"
        "def check():\n"
        "    import albca.infra.cloudfront_rules\n"
        "from albca.infra.clients import AwsClients\n"
    )
    assert product_imports(module) == {
        "albca.trust_bundle.alb_rules",
        "albca.trust_bundle.alb_rules.check_bundle",
        "albca.infra.cloudfront_rules",
    }
