"""``albca aws deploy``: the serverless CA on Lambda, Terraform-free.

- ``spec``: what is deployed (names, tags, settings) and the account it goes to;
- ``package``: the Lambda deployment package, built for Lambda's runtime, reproducible;
- ``policies``: the least-privilege IAM policies of each function and of the operator;
- ``apply`` (deploy) and ``remove`` (undeploy), through ``infra.calls.Aws`` (so
  ``--dry-run`` runs the same code), every resource tagged ``albca:deployment=NAME`` and
  found again by name (``lookup``: what they share);
- ``status``: what is deployed, read back.

Modules are imported one by one (they may load botocore), so this package exports nothing.
"""

__all__: list[str] = []
