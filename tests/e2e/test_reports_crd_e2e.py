"""The Reports we build are what the real OpenReports CRD (pinned, from its Go module)
stores: nothing pruned, nothing refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import Kubectl, install_openreports_crd
from tests.e2e.kube import kubectl, kubectl_json

from hostns.core.evaluation import EXCEPTED, VIOLATION, ImageUse, PodVerdict
from hostns.core.findings import finding_body, finding_content, finding_status
from hostns.core.reports import namespace_report
from hostns.core.workloads import Workload

NAMESPACE = "e2e-reports"


@pytest.fixture(scope="module")
def cluster(control_plane: Any) -> Path:
    kubeconfig = Path(control_plane.kubeconfig)
    install_openreports_crd(Kubectl(kubeconfig, NAMESPACE))
    kubectl(kubeconfig, "create", "namespace", NAMESPACE)
    return kubeconfig


def _finding(name: str, verdict: PodVerdict) -> dict[str, Any]:
    body = finding_body(Workload(NAMESPACE, "apps/v1", "DaemonSet", name), verdict.verdict)
    body["status"] = finding_status(finding_content({f"{name}-x": verdict}), None,
                                    "2026-12-01T12:00:00Z")
    return body


def test_the_real_report_crd_stores_our_report_unchanged(cluster: Path) -> None:
    image = "docker.io/library/busybox:1.36"
    findings = [
        _finding("sniffer", PodVerdict(VIOLATION, ("hostNetwork",), ("hostNetwork",),
                                       (ImageUse(image, ("hostNetwork",), ("hostNetwork",)),), ())),
        _finding("agent", PodVerdict(EXCEPTED, ("hostPID",), (),
                                     (ImageUse(image, ("hostPID",), ()),), (("agent", "why"),))),
    ]
    report = namespace_report(NAMESPACE, findings)
    assert report is not None
    kubectl(cluster, "apply", "--server-side", "--field-manager=hostns-e2e", "-f", "-",
            stdin=json.dumps(report))
    stored = kubectl_json(cluster, "get", "reports.openreports.io", "hostns-operator", "-n", NAMESPACE)
    for key in ("source", "summary", "results"):
        assert stored[key] == report[key], key
    table = kubectl(cluster, "get", "reports.openreports.io", "-n", NAMESPACE)
    assert "hostns-operator" in table
