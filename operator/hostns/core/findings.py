"""HostNamespaceFinding bodies: one per workload, built from its pods' verdicts.

`finding_content` is what a finding says about the workload now; it holds no
timestamps, so the operator can compare it with what is stored and write only
on a real change. `finding_status` adds the timestamps and conditions.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any, Final

from hostns.core.api import (
    API_VERSION,
    GROUP,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    VERDICT_LABEL,
    VERSION,
    WORKLOAD_KIND_LABEL,
)
from hostns.core.api import FINDING_KIND as KIND
from hostns.core.api import FINDINGS_PLURAL as PLURAL
from hostns.core.conditions import set_condition
from hostns.core.evaluation import VIOLATION, PodVerdict, Verdict
from hostns.core.rules import RULES, highest_severity, ordered
from hostns.core.workloads import Workload

# Kept importable under their old names (other modules and branches use them).
__all__ = [
    "API_VERSION", "EXCEPTED", "GROUP", "KIND", "MANAGED_BY", "MANAGED_BY_LABEL", "PLURAL",
    "RESOLVED", "VERDICT_LABEL", "VERSION", "WORKLOAD_KIND_LABEL",
    "Content", "finding_body", "finding_content", "finding_labels", "finding_status",
    "same_content", "violation_message",
]

EXCEPTED: Final = Verdict.EXCEPTED
RESOLVED: Final = Verdict.RESOLVED

MAX_POD_NAMES: Final = 20
#: The fields of a finding's status that describe the workload (no timestamps).
CONTENT_KEYS: Final = (
    "verdict", "summary", "severity", "riskScore", "hostNamespaces", "pods", "images", "exceptions",
    "actors",  # who wrote the pods or template (core.actors; only with the audit webhook)
)
_KEPT_WHEN_RESOLVED = ("summary", "severity", "riskScore", "hostNamespaces", "images", "exceptions")

Content = dict[str, Any]


def flag_entries(flags: Iterable[str], uncovered: set[str]) -> list[dict[str, Any]]:
    entries = []
    for flag in flags:
        rule = RULES[flag]
        entries.append(
            {
                "name": flag,
                "excepted": flag not in uncovered,
                "rule": rule.name,
                "severity": rule.severity,
                "riskScore": rule.risk_score,
                "tactics": [{"id": t.id, "name": t.name} for t in rule.tactics],
                "techniques": [{"id": t.id, "name": t.name} for t in rule.techniques],
            }
        )
    return entries


def finding_content(
    pods: Mapping[str, PodVerdict], previous: Mapping[str, Any] | None = None
) -> Content:
    """What the finding of a workload says, given its live host-namespace pods.

    `pods` maps pod names to verdicts of pods that use a host namespace. With
    none left the workload is Resolved, and the finding keeps the last known
    flags, images and exceptions: it is the record of what ran.
    """
    if not pods:
        kept = {k: copy.deepcopy(previous[k]) for k in _KEPT_WHEN_RESOLVED
                if previous and k in previous}
        return {**kept, "verdict": RESOLVED, "pods": {"count": 0, "names": []}}

    flags: set[str] = set()
    uncovered: set[str] = set()
    images: dict[str, tuple[set[str], set[str]]] = {}
    exceptions: set[tuple[str, str]] = set()
    for verdict in pods.values():
        flags.update(verdict.flags)
        uncovered.update(verdict.uncovered_flags)
        exceptions.update(verdict.exceptions)
        for use in verdict.images:
            used, not_covered = images.setdefault(use.image, (set(), set()))
            used.update(use.flags)
            not_covered.update(use.uncovered)
    in_use = ordered(flags)
    names = sorted(pods)
    return {
        "verdict": VIOLATION if uncovered else EXCEPTED,
        "summary": ",".join(in_use),
        "severity": highest_severity(flags),
        "riskScore": max(RULES[f].risk_score for f in in_use),
        "hostNamespaces": flag_entries(in_use, uncovered),
        "pods": {"count": len(names), "names": names[:MAX_POD_NAMES]},
        "images": [
            {"image": image, "hostNamespaces": list(ordered(used)), "uncovered": list(ordered(nc))}
            for image, (used, nc) in sorted(images.items())
        ],
        "exceptions": [{"name": n, "reason": r} for n, r in sorted(exceptions)],
    }


def same_content(content: Content, status: Mapping[str, Any] | None) -> bool:
    """Does a stored status already say exactly this? (Then no write is needed.)"""
    if not status:
        return False
    return all(content.get(key) == status.get(key) for key in CONTENT_KEYS)


def _condition(content: Content, since: str) -> dict[str, Any]:
    verdict = content["verdict"]
    if verdict == VIOLATION:
        missing = [i["image"] for i in content.get("images", []) if i.get("uncovered")]
        flags = [f["name"] for f in content.get("hostNamespaces", []) if not f.get("excepted")]
        status, reason = "True", "UncoveredHostNamespaces"
        message = f"{', '.join(flags)} not covered for image(s): {', '.join(missing)}"
    elif verdict == EXCEPTED:
        status, reason = "False", "AllExcepted"
        message = "every host-namespace use is covered by an exception"
    else:
        status, reason = "False", "NoLivePods"
        message = "no live pod of the workload uses a host namespace"
    return {
        "type": "Violation",
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": since,
    }


def finding_status(content: Content, previous: Mapping[str, Any] | None, now: str) -> Content:
    """The full status: content plus first-seen, transition and resolution times."""
    previous = previous or {}
    changed = previous.get("verdict") != content["verdict"]
    since = now if changed else str(previous.get("lastTransitionTime") or now)
    status: Content = {
        **content,
        "firstSeen": previous.get("firstSeen") or now,
        "lastTransitionTime": since,
        "conditions": set_condition(previous.get("conditions"), _condition(content, since), now),
    }
    if content["verdict"] == RESOLVED:
        status["resolvedAt"] = since if changed else previous.get("resolvedAt") or since
    else:
        status["resolvedAt"] = None  # a reopened finding is no longer resolved
    return status


def finding_labels(workload: Workload, verdict: str) -> dict[str, str]:
    return {
        MANAGED_BY_LABEL: MANAGED_BY,
        VERDICT_LABEL: verdict,
        WORKLOAD_KIND_LABEL: workload.kind,
    }


def finding_body(workload: Workload, verdict: str) -> dict[str, Any]:
    """A new finding object (status is written through the status subresource)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": workload.finding_name,
            "namespace": workload.namespace,
            "labels": finding_labels(workload, verdict),
        },
        "spec": {"workload": workload.as_ref()},
    }


def violation_message(verdict: PodVerdict) -> str:
    """The one-line message of a HostNamespaceViolation event."""
    uncovered = "; ".join(
        f"{use.image} ({', '.join(use.uncovered)})" for use in verdict.images if use.uncovered
    )
    return (
        f"uses host namespace(s) {', '.join(verdict.uncovered_flags)} not covered by any "
        f"HostNamespaceException; uncovered image(s): {uncovered}"
    )
