"""The composition root: settings in, services out, for every entry point.

The CLI, ``albca serve`` (``albca.server``) and the Lambda handler all build what they
need here, and nowhere else:

- ``services``: the store, the authority and its profiles (``open_services``);
- ``passphrase``: where the CA key passphrase comes from;
- ``ca_keys``: CA keys in files or KMS, and where a rotation's new keys go;
- ``new_ca``: ``albca init``;
- ``aws``: the one boto3 client factory (``aws_clients``), which the tests replace;
- ``trust``: the publish target, the trust store manager, the revocation sync that
  follows a revocation (``trust_bundle.revoke``, shared by the CLI and the API), rotation;
- ``api``: the API's stores and settings (``open_api``);
- ``infra``: what the AWS set-up commands take from the authority.

Modules are imported one by one (the CLI must start fast), so this package exports
nothing itself.
"""

__all__: list[str] = []
