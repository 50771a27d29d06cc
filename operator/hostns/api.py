"""The operator's API coordinates, named once: group, version, kinds, plurals, labels."""

from __future__ import annotations

from typing import Final

GROUP: Final = "hostns.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

FINDING_KIND: Final = "HostNamespaceFinding"
FINDINGS_PLURAL: Final = "hostnamespacefindings"
EXCEPTION_KIND: Final = "HostNamespaceException"
EXCEPTIONS_PLURAL: Final = "hostnamespaceexceptions"

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "hostns-operator"
VERDICT_LABEL: Final = "hostns.io/verdict"
WORKLOAD_KIND_LABEL: Final = "hostns.io/workload-kind"
