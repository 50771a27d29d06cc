"""`hostns scan -o sarif`: SARIF 2.1.0 for code scanning (GitHub, GitLab, Azure DevOps).

One rule per host namespace, with ids that never change (`host-network`,
`host-pid`, `host-ipc`), and one result per workload and host namespace in use:
a Violation of that flag is an open result; a flag an exception covers is a
result suppressed (`kind: external`, the exceptions' reasons as justification),
so a reviewer sees what the policy repository accepted. Each result points at the
line where the workload's document starts and carries a fingerprint built from the
workload's identity, not from the line, so moving a manifest within its file does
not open a new alert.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from typing import Any, Final

from hostns import __version__
from hostns.manifests import STDIN_NAME
from hostns.rules import FLAGS, HOST_IPC, HOST_NETWORK, HOST_PID, RULES
from hostns.scan import ScanReport, WorkloadResult

SARIF_VERSION: Final = "2.1.0"
SARIF_SCHEMA: Final = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
INFORMATION_URI: Final = "https://github.com/hostns/hostns-operator"
FINGERPRINT: Final = "hostnsWorkload/v1"

RULE_IDS: Final[dict[str, str]] = {
    HOST_NETWORK: "host-network", HOST_PID: "host-pid", HOST_IPC: "host-ipc",
}
# In our words: what each host namespace hands to the pod, and what an attacker does with it.
_RISK: Final[dict[str, str]] = {
    HOST_NETWORK: "The pod shares the node's network namespace: it can listen on the node's "
    "interfaces, see other pods' traffic, reach services bound to the node's localhost and "
    "step around the network policies of its namespace.",
    HOST_PID: "The pod shares the node's process namespace: it sees every process on the "
    "node, their command lines and environments, and with ptrace or a privileged container "
    "can enter them, up to the host's init process.",
    HOST_IPC: "The pod shares the node's IPC namespace: it can read and write the shared "
    "memory and message queues of every process on the node, other pods' included.",
}
_REMEDY: Final = (
    "Remove the flag from the pod template if the workload does not need it. If it does "
    "(a CNI plugin, a node agent, an administrator's debugging pod), have a cluster "
    "administrator trust its images in a HostNamespaceException: every container of the pod "
    "must be trusted, a digest pin is the strictest trust, and an expiry bounds it in time."
)
# GitHub code scanning ranks security alerts by this number (0.0-10.0): the seed
# rules' risk score of 47 on a scale of 100.
_LEVEL_OF_SEVERITY: Final[dict[str, str]] = {
    "low": "note", "medium": "warning", "high": "error", "critical": "error",
}


def _rule(flag: str) -> dict[str, Any]:
    rule = RULES[flag]
    mitre = [t.id for t in (*rule.tactics, *rule.techniques)]
    return {
        "id": RULE_IDS[flag],
        "name": rule.name.replace(" ", ""),
        "shortDescription": {"text": rule.name},
        "fullDescription": {"text": _RISK[flag]},
        "help": {
            "text": f"{_RISK[flag]} {_REMEDY}",
            "markdown": f"**{rule.name}** (severity {rule.severity}, risk score "
            f"{rule.risk_score}; MITRE ATT&CK {', '.join(mitre)})\n\n{_RISK[flag]}\n\n{_REMEDY}",
        },
        "helpUri": f"{INFORMATION_URI}#exceptions-trusting-images",
        "defaultConfiguration": {"level": _LEVEL_OF_SEVERITY[rule.severity]},
        "properties": {
            "security-severity": f"{rule.risk_score / 10:.1f}",
            "precision": "very-high",
            "tags": ["security", "kubernetes", f"spec.{flag}", *mitre],
        },
    }


def _uri(file: str) -> str:
    """A path relative to the working directory (the repository root in CI), with `/`."""
    relative = os.path.relpath(file) if os.path.isabs(file) else os.path.normpath(file)
    if relative.startswith(".."):
        relative = os.path.abspath(file)
    return relative.replace(os.sep, "/")


def _fingerprint(result: WorkloadResult, flag: str) -> str:
    identity = "\x00".join((result.kind, result.namespace, result.name, flag))
    return hashlib.sha256(identity.encode()).hexdigest()[:32]


def _results(result: WorkloadResult) -> Iterable[dict[str, Any]]:
    verdict = result.verdict
    workload = f"{result.kind} {result.namespace}/{result.name}"
    location: dict[str, Any] = {
        "logicalLocations": [{
            "name": result.name, "kind": "object",
            "fullyQualifiedName": f"{result.namespace}/{result.kind}/{result.name}",
        }],
    }
    if result.origin.file != STDIN_NAME:
        location["physicalLocation"] = {
            "artifactLocation": {"uri": _uri(result.origin.file), "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": result.origin.line or 1},
        }
    reasons = "; ".join(f"{name}: {reason}" for name, reason in verdict.exceptions)
    for flag in verdict.flags:
        uncovered = [use.image for use in verdict.images if flag in use.uncovered]
        item: dict[str, Any] = {
            "ruleId": RULE_IDS[flag],
            "ruleIndex": FLAGS.index(flag),
            "level": _LEVEL_OF_SEVERITY[RULES[flag].severity],
            "locations": [location],
            "partialFingerprints": {FINGERPRINT: _fingerprint(result, flag)},
            "properties": {"hostNamespace": flag, "workload": workload,
                           "document": result.origin.document},
        }
        if uncovered:
            item["message"] = {"text": f"{workload} uses {flag}, and no HostNamespaceException "
                               f"covers image(s) {', '.join(uncovered)} for it."}
        else:
            item["message"] = {"text": f"{workload} uses {flag}, covered by {reasons}."}
            item["suppressions"] = [{"kind": "external", "status": "accepted",
                                     "justification": reasons}]
        yield item


def sarif_log(report: ScanReport) -> dict[str, Any]:
    """The SARIF log of a scan: one run of the `hostns` tool."""
    notifications = [
        {"level": "error", "message": {"text": error}} for error in report.errors
    ] + [{"level": "note", "message": {"text": note}} for note in report.notes]
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "hostns",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(flag) for flag in FLAGS],
            }},
            "invocations": [{
                "executionSuccessful": not report.errors,
                "toolExecutionNotifications": notifications,
            }],
            "results": [item for result in report.results for item in _results(result)],
        }],
    }
