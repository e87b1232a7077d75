"""AWS set-up without Terraform: mTLS on ALB listeners, backend re-encryption, ACM import,
bootstrap of table, bucket and KMS keys."""

__all__: list[str] = []
