"""OpenReports: one `openreports.io/v1alpha1` Report per namespace, built from its findings.

Policy Reporter and other report consumers read these. One result per finding:
`fail` for a Violation, `skip` for an Excepted workload (naming the exceptions
that cover it), nothing for a Resolved one — a workload that is gone leaves no
stale result. The body is a pure function of the findings' statuses, with no
clock of its own (timestamps are the findings' `lastTransitionTime`), so the
writer can compare it with what is stored and write only on change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, Final

from hostns.bodies import field
from hostns.evaluation import EXCEPTED, VIOLATION
from hostns.findings import MANAGED_BY, MANAGED_BY_LABEL
from hostns.rules import RULES

REPORTS_GROUP: Final = "openreports.io"
REPORTS_VERSION: Final = "v1alpha1"
REPORTS_API_VERSION: Final = f"{REPORTS_GROUP}/{REPORTS_VERSION}"
REPORT_KIND: Final = "Report"
REPORT_PLURAL: Final = "reports"
REPORT_NAME: Final = "hostns-operator"
SOURCE: Final = "hostns-operator"
POLICY: Final = "host-namespaces"
CATEGORY: Final = "Pod Security"

_RESULT_OF: dict[str, str] = {VIOLATION: "fail", EXCEPTED: "skip"}


def _timestamp(value: Any) -> dict[str, int] | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return {"seconds": int(moment.timestamp()), "nanos": 0}


def finding_result(finding: Mapping[str, Any]) -> dict[str, Any] | None:
    """The report result of one finding; None for a Resolved (or unreadable) one."""
    status = field(finding, "status")
    verdict = status.get("verdict")
    result = _RESULT_OF.get(str(verdict))
    if result is None:
        return None
    metadata, workload = field(finding, "metadata"), field(field(finding, "spec"), "workload")
    flags = [f for f in status.get("hostNamespaces") or [] if isinstance(f, Mapping)]
    in_question = [f for f in flags if not f.get("excepted")] if verdict == VIOLATION else flags
    rules = [RULES[f["name"]].name for f in in_question if f.get("name") in RULES]
    exceptions = [e for e in status.get("exceptions") or [] if isinstance(e, Mapping)]
    uncovered = [
        f"{use.get('image')} ({','.join(use.get('uncovered') or [])})"
        for use in status.get("images") or []
        if isinstance(use, Mapping) and use.get("uncovered")
    ]
    if verdict == VIOLATION:
        message = (f"uses {', '.join(f['name'] for f in in_question)} not covered by any "
                   f"HostNamespaceException; uncovered: {'; '.join(uncovered)}")
    else:
        names = "; ".join(f"{e.get('name')} ({e.get('reason')})" for e in exceptions)
        message = f"every host-namespace use is excepted by {names}"
    body: dict[str, Any] = {
        "source": SOURCE,
        "policy": POLICY,
        "rule": ", ".join(rules),
        "category": CATEGORY,
        "result": result,
        "scored": True,
        "severity": str(status.get("severity") or "medium"),
        "message": message,
        "resources": [{
            "apiVersion": str(workload.get("apiVersion") or ""),
            "kind": str(workload.get("kind") or ""),
            "name": str(workload.get("name") or ""),
            "namespace": str(metadata.get("namespace") or ""),
        }],
        "properties": {
            "finding": str(metadata.get("name") or ""),
            "hostNamespaces": str(status.get("summary") or ""),
            "exceptions": ",".join(str(e.get("name")) for e in exceptions),
            "uncoveredImages": "; ".join(uncovered),
        },
    }
    timestamp = _timestamp(status.get("lastTransitionTime"))
    if timestamp is not None:
        body["timestamp"] = timestamp
    return body


def namespace_report(
    namespace: str, findings: Iterable[Mapping[str, Any]]
) -> dict[str, Any] | None:
    """The namespace's Report, or None when no finding there needs a result (delete it)."""
    results = [r for f in findings if (r := finding_result(f)) is not None]
    if not results:
        return None
    results.sort(key=lambda r: (r["result"] != "fail", r["properties"]["finding"]))
    fail = sum(1 for r in results if r["result"] == "fail")
    return {
        "apiVersion": REPORTS_API_VERSION,
        "kind": REPORT_KIND,
        "metadata": {
            "name": REPORT_NAME,
            "namespace": namespace,
            "labels": {MANAGED_BY_LABEL: MANAGED_BY},
        },
        "source": SOURCE,
        "summary": {"pass": 0, "fail": fail, "warn": 0, "error": 0, "skip": len(results) - fail},
        "results": results,
    }
