"""One vocabulary (issue 16, point 6), kept true by walking the command tree, so a new
command cannot be added without it:

- ``--json`` on every command of the AWS groups (``alb``, ``backend``, ``cloudfront``,
  ``aws``), which all print data;
- ``--region`` on every command that calls AWS: a command whose code reaches one of the
  CLI's AWS client makers must offer it.

"Reaches" is read from the bytecode: the functions a command's callback names (globals,
and names imported inside functions), followed through albca.cli and albca.compose. The
CA's own services (its DynamoDB store and KMS keys, which every command opens) follow
ALBCA_AWS_REGION, the CA's configuration: the walk stops at ``open_services``.
"""

from __future__ import annotations

import dis
import importlib
import inspect
import types
from collections.abc import Iterator

import pytest
import typer

from albca.cli import app, aws_context, trust_context
from albca.cli.errors import CommandLineError
from albca.compose import aws as compose_aws
from albca.compose import services as compose_services
from tests.cli.command_tree import subcommands

# Where the CLI makes boto3 clients for the AWS resources a command works on.
AWS_CLIENT_MAKERS = {
    aws_context.open_aws,
    trust_context.open_trust,
    compose_aws.aws_clients,
    compose_aws.client_factory,
}
# The CA's own store and keys: in the CA's configured region, for every command alike.
CA_OWN_SERVICES = {compose_services.open_services}
# Commands that make AWS clients yet take no --region, and why.
NO_REGION = {
    # The CA's scheduled jobs, the same run as the deployed Lambda's schedule: they work on
    # what the CA's configuration names (ALBCA_AWS_REGION, ALBCA_PUBLISH_TO, the SNS
    # topic's own region), nothing named on the command line.
    "maintain",
    # The HTTP API: its revocation syncs work on the CA's configured trust stores, in the
    # CA's configured region, like the same API deployed on Lambda.
    "serve",
}


def commands(group, path=()) -> Iterator[tuple[str, object]]:
    for name, command in subcommands(group).items():
        if subcommands(command):
            yield from commands(command, (*path, name))
        else:
            yield " ".join((*path, name)), command


def _code_objects(code: types.CodeType) -> Iterator[types.CodeType]:
    yield code
    for constant in code.co_consts:
        if isinstance(constant, types.CodeType):
            yield from _code_objects(constant)


def _named_functions(function: types.FunctionType) -> Iterator[object]:
    """What ``function`` (and the functions nested in it) refers to by name."""
    for code in _code_objects(function.__code__):
        module = None
        loaded: object = None  # the global just loaded: a module's attribute may follow
        for instruction in dis.get_instructions(code):
            if instruction.opname == "IMPORT_NAME":
                module = instruction.argval
            elif instruction.opname == "IMPORT_FROM" and module:
                yield getattr(importlib.import_module(module), instruction.argval, None)
            elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(
                loaded, types.ModuleType
            ):
                # `compose_aws.aws_clients(...)`: a function reached through its module.
                yield getattr(loaded, instruction.argval, None)
            loaded = None
            if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
                loaded = function.__globals__.get(instruction.argval)
                yield loaded


def makes_aws_clients(function: object, seen: set[object] | None = None) -> bool:
    seen = set() if seen is None else seen
    if not isinstance(function, types.FunctionType):
        return False
    function = inspect.unwrap(function)
    if function in AWS_CLIENT_MAKERS:
        return True
    if function in seen or function in CA_OWN_SERVICES:
        return False
    if not function.__module__.startswith(("albca.cli", "albca.compose")):
        return False
    seen.add(function)
    return any(makes_aws_clients(named, seen) for named in _named_functions(function))


def option_names(command) -> set[str]:
    return {name for param in command.params for name in getattr(param, "opts", [])}


def aws_commands() -> dict[str, object]:
    root = typer.main.get_command(app)
    return {
        path: command
        for path, command in commands(root)
        if command.callback is not None and makes_aws_clients(command.callback)
    }


def test_every_command_that_makes_aws_clients_takes_region():
    found = aws_commands()
    missing = sorted(
        path
        for path, command in found.items()
        if "--region" not in option_names(command) and path not in NO_REGION
    )
    assert not missing, f"these commands call AWS but take no --region: {missing}"


# `aws policy` prints an IAM policy document, which is JSON already.
ALWAYS_JSON = {"aws policy"}


def test_every_command_of_the_aws_groups_takes_json():
    root = typer.main.get_command(app)
    groups = ("alb", "backend", "cloudfront", "aws")
    found = {path: c for path, c in commands(root) if path.split()[0] in groups}
    assert len(found) >= 18  # the walk sees the groups' commands
    missing = sorted(
        path
        for path, command in found.items()
        if "--json" not in option_names(command) and path not in ALWAYS_JSON
    )
    assert not missing, f"these commands print data but take no --json: {missing}"


def test_the_walk_finds_the_aws_commands():
    # Guard against a walk that finds nothing and so could never fail: the commands the
    # issue names, and the AWS groups, are all found.
    found = set(aws_commands())
    for expected in (
        "truststore create",
        "truststore list",
        "truststore sync",
        "bundle publish",
        "bundle rollback",
        "revoke",
        "ca rotate",
        "ca retire",
        "ca activate",
        "alb enable-mtls",
        "backend pin",
        "cloudfront origin-mtls",
        "aws check",
        "aws deploy",
    ):
        assert expected in found
    assert found >= NO_REGION  # an exemption that no longer applies is taken out
    # ... and the commands that only read the CA's home are not.
    for local in ("list", "show", "issue client", "crl", "ca status", "truststore status"):
        assert local not in found


@pytest.mark.parametrize(
    "command",
    [
        ("bundle", "publish", "--publish-to", "s3://bucket/pki"),
        ("bundle", "rollback", "--publish-to", "s3://bucket/pki"),
        ("truststore", "list", "--publish-to", "s3://bucket/pki"),
        ("truststore", "sync", "--publish-to", "s3://bucket/pki"),
        ("ca", "rotate", "--publish-to", "s3://bucket/pki"),
        ("ca", "retire", "0000", "--no-publish"),
        ("revoke", "SERIAL"),
    ],
    ids=" ".join,
)
def test_region_reaches_the_client_factory(initialized, monkeypatch, command):
    cli = initialized
    serial = cli.json("issue", "client", "--cn", "alice")["serial"]
    made: list[str | None] = []

    def stop(region):
        made.append(region)
        raise CommandLineError("no AWS in this test")

    monkeypatch.setattr(compose_aws, "aws_clients", stop)
    args = [serial if arg == "SERIAL" else arg for arg in command]
    line = cli.fails(*args, "--region", "eu-north-1", env={"ALBCA_PUBLISH_TO": "s3://bucket/pki"})
    assert line == "no AWS in this test"
    assert made == ["eu-north-1"]
