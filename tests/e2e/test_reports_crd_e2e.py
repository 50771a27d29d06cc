"""The Reports we build are what the real OpenReports CRD (pinned, from its Go module)
stores: nothing pruned, nothing refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.kube import kubectl, kubectl_json

from hostns.evaluation import EXCEPTED, VIOLATION, ImageUse, PodVerdict
from hostns.findings import finding_body, finding_content, finding_status
from hostns.reports import namespace_report
from hostns.workloads import Workload

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "e2e-reports"


def openreports_crds() -> Path:
    done = subprocess.run(["bash", str(REPO / "hack" / "openreports" / "crd.sh")],
                          capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        pytest.fail(f"OpenReports CRDs: {done.stderr.strip()}")
    return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def cluster(control_plane: Any) -> Path:
    kubeconfig = Path(control_plane.kubeconfig)
    crds = openreports_crds()
    kubectl(kubeconfig, "apply", "-f", str(crds / "openreports.io_reports.yaml"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
            "crd/reports.openreports.io")
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
