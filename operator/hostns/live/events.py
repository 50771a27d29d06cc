"""Kubernetes Event bodies (core/v1) the operator posts. Pure builders.

Events are posted only on transitions (a pod turning into a Violation, a
finding changing verdict), never per watch event, so there are no storms.
"""

from __future__ import annotations

import secrets
import socket
from typing import Any, Final

from hostns.core.evaluation import VIOLATION
from hostns.core.findings import API_VERSION, KIND, RESOLVED
from hostns.core.workloads import Workload

COMPONENT: Final = "hostns-operator"
POD_VIOLATION_REASON: Final = "HostNamespaceViolation"
FINDING_REASONS: Final = {
    VIOLATION: "HostNamespaceViolation",
    "Excepted": "HostNamespaceExcepted",
    RESOLVED: "HostNamespaceResolved",
}
#: On a Violation finding, when its writer became known after the verdict's Event.
ACTOR_REASON: Final = "HostNamespaceViolationWrittenBy"
_INSTANCE = socket.gethostname()


def event_body(
    involved: dict[str, str], event_type: str, reason: str, message: str, now: str
) -> dict[str, Any]:
    # Names must be unique per event; kubectl and the event recorder use the same scheme.
    name = f"{involved['name'][:200]}.{secrets.token_hex(8)}"
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": involved["namespace"]},
        "involvedObject": involved,
        "type": event_type,
        "reason": reason,
        "message": message[:1024],
        "count": 1,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "source": {"component": COMPONENT},
        "reportingComponent": f"hostns.io/{COMPONENT}",
        "reportingInstance": _INSTANCE[:128],
    }


def pod_violation_event(
    namespace: str, name: str, uid: str, message: str, now: str
) -> dict[str, Any]:
    involved = {"apiVersion": "v1", "kind": "Pod", "namespace": namespace, "name": name}
    if uid:
        involved["uid"] = uid
    return event_body(involved, "Warning", POD_VIOLATION_REASON, message, now)


def _finding_ref(workload: Workload, uid: str | None) -> dict[str, str]:
    involved = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "namespace": workload.namespace,
        "name": workload.finding_name,
    }
    if uid:
        involved["uid"] = uid
    return involved


def actor_event(
    workload: Workload, phrase: str, now: str, uid: str | None = None
) -> dict[str, Any]:
    """A Warning on a Violation finding naming who wrote the workload's pods or template."""
    message = f"{workload.kind} {workload.name} violates; written by {phrase}"
    return event_body(_finding_ref(workload, uid), "Warning", ACTOR_REASON, message, now)


def finding_event(
    workload: Workload, verdict: str, message: str, now: str, uid: str | None = None
) -> dict[str, Any]:
    event_type = "Warning" if verdict == VIOLATION else "Normal"
    reason = FINDING_REASONS[verdict]
    return event_body(_finding_ref(workload, uid), event_type, reason, message, now)
