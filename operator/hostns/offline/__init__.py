"""Offline readers and judges: manifests (`hostns scan`) and audit logs (`hostns audit`),
on the same core as the operator."""
