"""Where certificates, CAs and the audit trail are kept: the port and its backends.

- ``protocol``: ``CertificateStore``, the port every backend implements (a contract suite
  in ``tests/store`` holds each to it);
- ``sqlite``: the embedded default, one file in the CA home;
- ``dynamodb``, ``dynamodb_models``, ``dynamodb_table``: the serverless backend (an AWS
  adapter: the only modules here that import pynamodb).

Backends are imported by module, not from here, so importing the port loads no backend.
"""

__all__: list[str] = []
