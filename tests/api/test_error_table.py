"""Every CAError the API can meet has an HTTP status of its own in api.errors.

The API imports only ``ca``, ``trust_bundle`` and itself (``tests/unit/test_layering.py``
holds it to that), so those packages' errors are every error a request can end in; the
AWS set-up errors of ``infra`` and the composition root's never reach it.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

from albca.api.errors import STATUS
from albca.api.http_errors import error_response
from albca.ca.errors import CAError

PACKAGES = ("albca.ca", "albca.api", "albca.trust_bundle")


def every_module():
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        yield package
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package_name}."):
            yield importlib.import_module(info.name)


def every_ca_error() -> list[type[CAError]]:
    for _module in every_module():
        pass  # importing every module defines every subclass, wherever it lives
    found: list[type[CAError]] = []
    pending = [CAError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    # Only albca's own: a test module may subclass CAError for its own purposes.
    return [cls for cls in found if cls.__module__.rpartition(".")[0].startswith(PACKAGES)]


def test_the_walk_finds_errors_of_several_modules():
    modules = {cls.__module__ for cls in every_ca_error()}
    assert {"albca.ca.errors", "albca.api.errors"} <= modules


@pytest.mark.parametrize("error_class", every_ca_error(), ids=lambda cls: cls.__qualname__)
def test_every_ca_error_has_an_http_status(error_class):
    assert error_class in STATUS, f"{error_class.__module__}.{error_class.__qualname__}"
    assert 400 <= STATUS[error_class] <= 599


@pytest.mark.parametrize("error_class", every_ca_error(), ids=lambda cls: cls.__qualname__)
def test_every_ca_error_has_its_own_code(error_class):
    parents = [base for base in inspect.getmro(error_class)[1:] if issubclass(base, CAError)]
    assert all(error_class.code != parent.code for parent in parents) or error_class is CAError


def test_a_class_missing_from_the_table_answers_500_not_a_crash(caplog):
    class Unmapped(CAError):
        code = "unmapped"

    response = error_response(Unmapped("boom"))
    assert response.status_code == 500
    assert "no HTTP status for Unmapped" in caplog.text
