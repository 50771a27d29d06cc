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
PARAMS_KIND: Final = "HostNamespaceAdmissionParams"  # the admission policy's parameter object
PARAMS_PLURAL: Final = "hostnamespaceadmissionparams"

MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "hostns-operator"
VERDICT_LABEL: Final = "hostns.io/verdict"
WORKLOAD_KIND_LABEL: Final = "hostns.io/workload-kind"

# OpenReports (openreports.io), where Policy Reporter and other report consumers look.
REPORTS_GROUP: Final = "openreports.io"
REPORTS_VERSION: Final = "v1alpha1"
REPORTS_API_VERSION: Final = f"{REPORTS_GROUP}/{REPORTS_VERSION}"
REPORT_KIND: Final = "Report"
REPORTS_PLURAL: Final = "reports"
