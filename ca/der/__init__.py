"""DER written by hand where cryptography's builders are too slow: ``primitives`` (lengths,
integers, times, the CRL entry encoder) and ``leaf`` (leaf certificates from a per-issuer
template, byte for byte what cryptography's ``CertificateBuilder`` makes)."""

__all__: list[str] = []
