"""AWS set-up without Terraform: mTLS on ALB listeners, backend re-encryption, ACM import,
CloudFront origin mTLS, bootstrap of table, bucket and KMS keys.

Modules are imported one by one (they load botocore; the CLI must start fast), so this
package exports nothing itself. The map:

- ``clients`` (the boto3 client factory), ``calls`` (every AWS call: dry run, record,
  error boundary), ``recording`` (clients that put ``trust_bundle``'s changes on that
  record), ``errors`` (the ``CAError``s of AWS set-up), ``waiting``;
- ``listeners``, ``trust_store_ready``, ``published_trust_store``, ``listener_mtls``,
  ``listener_status``: ALB listeners, their trust store (an existing one, or one fed by
  the trust bundle service) and mutual TLS;
- ``acm``, ``server_cert``, ``cert_checks``: certificates in ACM and on listeners;
- ``backend_cert``, ``target_groups``, ``classic_elb``, ``security_groups``,
  ``ebextensions``: re-encryption to backends;
- ``cloudfront_rules``, ``cloudfront_origin``: CloudFront origin mutual TLS;
- ``bootstrap``: the serverless CA's table, bucket and keys;
The faithful fakes of what moto lacks (tests, ``albca demo --aws-emulated``) are not here:
they live in ``albca.emulated_aws``, outside the product's core.
"""

__all__: list[str] = []
