"""OpenReports Reports built from findings: one result per finding, summary equal to them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hostns.evaluation import EXCEPTED, VIOLATION, ImageUse, PodVerdict
from hostns.findings import finding_body, finding_content, finding_status
from hostns.reports import finding_result, namespace_report
from hostns.workloads import Workload

NOW = "2026-12-01T12:00:00Z"
AGENT = "docker.io/elastic/elastic-agent:8.15.0"
SIDECAR = "docker.io/library/busybox:1.36"


def _finding(name: str, verdict: PodVerdict | None, previous: dict[str, Any] | None = None) -> dict[str, Any]:
    workload = Workload("ops", "apps/v1", "DaemonSet", name)
    body = finding_body(workload, verdict.verdict if verdict else "Resolved")
    content = finding_content({f"{name}-x": verdict} if verdict else {}, previous)
    body["status"] = finding_status(content, previous, NOW)
    return body


VIOLATING = PodVerdict(VIOLATION, ("hostNetwork", "hostPID"), ("hostPID",),
                       (ImageUse(AGENT, ("hostNetwork", "hostPID"), ()),
                        ImageUse(SIDECAR, ("hostNetwork", "hostPID"), ("hostPID",))),
                       (("agent-network", "the agent watches node traffic"),))
COVERED = PodVerdict(EXCEPTED, ("hostNetwork",), (), (ImageUse(AGENT, ("hostNetwork",), ()),),
                     (("agent-network", "the agent watches node traffic"),))


def test_a_violation_is_a_failed_result_naming_the_rule_and_the_uncovered_image() -> None:
    result = finding_result(_finding("agent", VIOLATING))
    assert result is not None
    assert (result["result"], result["rule"], result["severity"]) == (
        "fail", "Kubernetes Pod Created With HostPID", "medium")
    assert result["source"] == "hostns-operator" and result["policy"] == "host-namespaces"
    assert result["resources"] == [{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "namespace": "ops"}]
    assert result["properties"]["uncoveredImages"] == f"{SIDECAR} (hostPID)"
    assert f"{SIDECAR} (hostPID)" in result["message"]
    assert result["timestamp"] == {"seconds": int(datetime(2026, 12, 1, 12, tzinfo=UTC).timestamp()), "nanos": 0}


def test_an_excepted_workload_is_skipped_naming_the_exception() -> None:
    result = finding_result(_finding("agent", COVERED))
    assert result is not None
    assert (result["result"], result["rule"]) == ("skip", "Kubernetes Pod Created With HostNetwork")
    assert "agent-network (the agent watches node traffic)" in result["message"]
    assert result["properties"]["exceptions"] == "agent-network"


def test_a_resolved_finding_leaves_no_result_and_an_empty_namespace_no_report() -> None:
    resolved = _finding("gone", None, _finding("gone", VIOLATING)["status"])
    assert resolved["status"]["verdict"] == "Resolved"
    assert finding_result(resolved) is None
    assert namespace_report("ops", [resolved]) is None


def test_the_summary_counts_equal_the_results_and_violations_come_first() -> None:
    findings = [_finding("b-covered", COVERED), _finding("c-violating", VIOLATING),
                _finding("a-violating", VIOLATING), _finding("z-gone", None)]
    report = namespace_report("ops", findings)
    assert report is not None
    assert report["metadata"] == {"name": "hostns-operator", "namespace": "ops",
                                  "labels": {"app.kubernetes.io/managed-by": "hostns-operator"}}
    assert report["summary"] == {"pass": 0, "fail": 2, "warn": 0, "error": 0, "skip": 1}
    assert [r["properties"]["finding"] for r in report["results"]] == [
        "daemonset-a-violating", "daemonset-c-violating", "daemonset-b-covered"]


def test_the_report_is_a_pure_function_of_the_findings() -> None:
    findings = [_finding("agent", VIOLATING), _finding("other", COVERED)]
    assert namespace_report("ops", findings) == namespace_report("ops", list(reversed(findings)))


def test_a_strange_finding_never_raises_and_a_violation_still_fails() -> None:
    assert finding_result({}) is None
    assert finding_result({"status": None}) is None
    strange = finding_result({"status": {"verdict": "Violation", "hostNamespaces": "x",
                                         "images": [1], "exceptions": [None]}})
    assert strange is not None and strange["result"] == "fail"
