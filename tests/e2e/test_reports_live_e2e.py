"""`hostns run --reports openreports` on a real kube-apiserver, under the shipped RBAC.

The operator runs as its own ServiceAccount with deploy/base and
deploy/components/openreports applied as shipped, against the real Report CRD of the
OpenReports project (pinned, from its Go module). The namespace's Report must agree
with its findings — first, after an exception change and after a workload deletion —
and is written only when they change.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.e2e.harness import (
    Kubectl,
    Operator,
    eventually,
    install,
    install_openreports_crd,
    operator_identity,
)

from hostns.core.reports import REPORT_NAME
from hostns.core.rules import RULES

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "e2e-reports-live"
OPERATOR_SA = "system:serviceaccount:hostns-system:hostns-operator"
SNIFFER = "registry.example.com/e2e-reports/sniffer:1.0"
AGENT = "registry.example.com/e2e-reports/agent:1.0"


def pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": image}], **spec},
    }


def exception(name: str, image: str) -> dict[str, Any]:
    return {
        "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
        "metadata": {"name": name},
        "spec": {"reason": f"{name}: trusted by the e2e suite", "images": [image],
                 "namespaces": [NAMESPACE]},
    }


@pytest.fixture(scope="module")
def admin(control_plane: Any) -> Iterator[Kubectl]:
    k = Kubectl(Path(control_plane.kubeconfig), NAMESPACE)
    install_openreports_crd(k)
    # deploy/base with the component, exactly as a user's overlay would combine them.
    overlay = REPO / ".pytest_cache" / "e2e-openreports"
    overlay.mkdir(parents=True, exist_ok=True)
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump({
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "resources": [os.path.relpath(REPO / "deploy" / "base", overlay)],
        "components": [os.path.relpath(REPO / "deploy" / "components" / "openreports", overlay)],
    }))
    install(k, overlay)
    yield k
    for name in ("e2e-reports-agent", "e2e-reports-sniffer"):
        k.run("delete", "hne", name, "--ignore-not-found")


@pytest.fixture(scope="module")
def operator(admin: Kubectl, control_plane: Any, tmp_path_factory: Any) -> Iterator[Operator]:
    directory = Path(tmp_path_factory.mktemp("reports-operator"))
    running = Operator(operator_identity(admin, control_plane, directory),
                       directory / "operator.log", "--reports", "openreports")
    running.start()
    eventually(running.ready, timeout=60)
    yield running
    running.stop()


def report(k: Kubectl) -> dict[str, Any] | None:
    result = k.run("get", "reports.openreports.io", REPORT_NAME, "-n", NAMESPACE, "-o", "json",
                   "--ignore-not-found")
    if not result.stdout.strip():
        return None
    # The one answer read: a second GET could race the operator deleting the Report.
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def verdicts(k: Kubectl) -> dict[str, str]:
    return {name: (f.get("status") or {}).get("verdict", "") for name, f in k.findings().items()}


def agrees(k: Kubectl, expected: dict[str, str]) -> dict[str, Any] | None:
    """The Report, once the findings have the expected verdicts and the Report says the
    same: one result per open finding (fail for Violation, skip for Excepted), counts
    equal to the findings'."""
    found = verdicts(k)
    if {n: v for n, v in found.items() if n in expected} != expected:
        return None
    held = report(k)
    open_findings = {n: v for n, v in found.items() if v in ("Violation", "Excepted")}
    if not open_findings:
        return {"absent": True} if held is None else None
    if held is None:
        return None
    results = {r["properties"]["finding"]: r["result"] for r in held["results"]}
    wanted = {n: "fail" if v == "Violation" else "skip" for n, v in open_findings.items()}
    summary = held["summary"]
    if results != wanted or summary["fail"] != sum(1 for v in wanted.values() if v == "fail") \
            or summary["skip"] != sum(1 for v in wanted.values() if v == "skip"):
        return None
    return held


def sample(operator: Operator, prefix: str) -> float:
    """The sum of the samples whose line starts with `prefix` (name and some labels)."""
    return sum(float(line.rsplit(" ", 1)[1]) for line in operator.metrics().splitlines()
               if line.startswith(prefix))


def report_writes(operator: Operator) -> float:
    return sample(operator, 'hostns_api_writes_total{kind="Report"')


# --- RBAC: the component grants the operator its own Reports and nothing more ----------


@pytest.mark.parametrize(("verb", "name", "allowed"), [
    ("list", "", True), ("create", "", True),
    ("get", REPORT_NAME, True), ("update", REPORT_NAME, True), ("delete", REPORT_NAME, True),
    ("update", "kyverno-report", False), ("delete", "kyverno-report", False),
    ("get", "kyverno-report", False), ("watch", "", False), ("patch", REPORT_NAME, False),
    ("deletecollection", "", False),
])
def test_the_operator_may_write_its_own_report_only(
    admin: Kubectl, verb: str, name: str, allowed: bool
) -> None:
    resource = f"reports.openreports.io/{name}" if name else "reports.openreports.io"
    result = admin.run("auth", "can-i", verb, resource, "-n", NAMESPACE, f"--as={OPERATOR_SA}",
                       check=False)
    assert result.stdout.strip() == ("yes" if allowed else "no"), (verb, name)


# --- behaviour -----------------------------------------------------------------------


def test_the_report_follows_the_findings_and_is_written_only_on_change(
    admin: Kubectl, operator: Operator
) -> None:
    admin.apply(exception("e2e-reports-agent", AGENT))
    admin.apply(pod("sniffer", SNIFFER, hostNetwork=True))
    admin.apply(pod("agent", AGENT, hostPID=True))

    # 1. One fail for the Violation, one skip naming the exception for the Excepted.
    held = eventually(lambda: agrees(admin, {"pod-sniffer": "Violation",
                                             "pod-agent": "Excepted"}), timeout=60)
    by_finding = {r["properties"]["finding"]: r for r in held["results"]}
    assert held["source"] == "hostns-operator"
    # The seed rule's name and severity (hostns.core.rules), not names made up here.
    assert by_finding["pod-sniffer"]["rule"] == RULES["hostNetwork"].name
    assert by_finding["pod-sniffer"]["severity"] == RULES["hostNetwork"].severity
    assert by_finding["pod-agent"]["rule"] == RULES["hostPID"].name
    assert by_finding["pod-agent"]["properties"]["exceptions"] == "e2e-reports-agent"
    assert "e2e-reports-agent" in by_finding["pod-agent"]["message"]

    # A CRD installed a moment ago may answer 429 while its storage initialises: retried.
    # From here on, nothing fails.
    errors = sample(operator, 'hostns_api_errors_total{operation="write_report"}')

    # 2. Written only on change: pod events that change no finding leave it alone.
    version, writes = held["metadata"]["resourceVersion"], report_writes(operator)
    admin.run("label", "pod", "sniffer", "-n", NAMESPACE, "touched=1")
    admin.run("label", "pod", "agent", "-n", NAMESPACE, "touched=1")
    admin.apply(pod("plain", "nginx:1.25"))
    time.sleep(3)  # well past the coalescing window (0.2 s) and the findings' writes
    again = report(admin)
    assert again is not None and again["metadata"]["resourceVersion"] == version
    assert report_writes(operator) == writes

    # 3. An exception change: the Violation becomes a skip naming the new exception.
    admin.apply(exception("e2e-reports-sniffer", SNIFFER))
    held = eventually(lambda: agrees(admin, {"pod-sniffer": "Excepted",
                                             "pod-agent": "Excepted"}), timeout=60)
    by_finding = {r["properties"]["finding"]: r for r in held["results"]}
    assert by_finding["pod-sniffer"]["result"] == "skip"
    assert by_finding["pod-sniffer"]["properties"]["exceptions"] == "e2e-reports-sniffer"
    assert held["summary"]["fail"] == 0

    # ... and back: deleting it makes the workload a Violation (a fail) again.
    admin.run("delete", "hne", "e2e-reports-sniffer")
    eventually(lambda: agrees(admin, {"pod-sniffer": "Violation",
                                      "pod-agent": "Excepted"}), timeout=60)

    # 4. A workload deleted: its finding is Resolved and its result is gone.
    admin.run("delete", "pod", "agent", "-n", NAMESPACE, "--wait=false")
    held = eventually(lambda: agrees(admin, {"pod-sniffer": "Violation",
                                             "pod-agent": "Resolved"}), timeout=60)
    assert [r["properties"]["finding"] for r in held["results"]] == ["pod-sniffer"]

    # 5. The last one deleted: no open finding, no Report (nothing stale left behind).
    admin.run("delete", "pod", "sniffer", "plain", "-n", NAMESPACE, "--wait=false")
    eventually(lambda: agrees(admin, {"pod-sniffer": "Resolved", "pod-agent": "Resolved"}),
               timeout=60)
    assert operator.metric("hostns_reports_failing") == 0
    assert sample(operator, 'hostns_api_errors_total{operation="write_report"}') == errors
    assert report_writes(operator) == writes + 4  # one per change above, and the delete
