"""`kubectl hostns` as kubectl runs it: found on PATH, the current kubeconfig context,
read-only `kubectl get` underneath, on a real kube-apiserver.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.kube import apply, kubectl

from hostns.evaluation import evaluate
from hostns.exceptions import ExceptionSet, compile_exception
from hostns.findings import finding_body, finding_content, finding_status
from hostns.pods import Container
from hostns.workloads import Workload

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "e2e-plugin"
AGENT = "registry.example.com/acme/agent:2.1"
SIDECAR = "docker.io/library/busybox:1.36"


def _exception(name: str, images: list[str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
            "metadata": {"name": name},
            "spec": {"reason": f"{name}: trusted by the plugin e2e", "images": images, **spec}}


def _pod(name: str, images: list[str], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
            "spec": {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)],
                     **spec}}


@pytest.fixture(scope="module")
def cluster(control_plane: Any) -> Path:
    kubeconfig = Path(control_plane.kubeconfig)
    kubectl(kubeconfig, "apply", "-k", str(REPO / "crds"))
    kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s",
            "crd/hostnamespacefindings.hostns.io", "crd/hostnamespaceexceptions.hostns.io")
    kubectl(kubeconfig, "create", "namespace", NAMESPACE)
    apply(kubeconfig,
          _exception("plugin-agent", ["registry.example.com/acme/agent:*"], namespaces=[NAMESPACE]),
          _exception("plugin-kube-system-only", [SIDECAR], namespaces=["kube-system"]),
          _pod("sniffer", [AGENT, SIDECAR], hostNetwork=True),
          _pod("agent", [AGENT], hostNetwork=True, hostPID=True),
          {"apiVersion": "apps/v1", "kind": "DaemonSet",
           "metadata": {"name": "node-agent", "namespace": NAMESPACE},
           "spec": {"selector": {"matchLabels": {"app": "node-agent"}},
                    "template": {"metadata": {"labels": {"app": "node-agent"}},
                                 "spec": {"hostPID": True,
                                          "containers": [{"name": "a", "image": AGENT}]}}}})
    return kubeconfig


def hostns(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kubectl hostns ...`: kubectl finds kubectl-hostns next to this Python on PATH."""
    env = {**os.environ, "KUBECONFIG": str(kubeconfig),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(["kubectl", "hostns", *args], capture_output=True, text=True,
                          env=env, timeout=60, check=False)


def test_kubectl_finds_the_plugin(cluster: Path) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    listed = subprocess.run(["kubectl", "plugin", "list"], capture_output=True, text=True,
                            env=env, timeout=60, check=False)
    assert "kubectl-hostns" in listed.stdout


def _blocks(text: str) -> dict[tuple[str, str], list[str]]:
    """Answers per (container line, flag): the e2e cluster is shared, other tests'
    exceptions are answered too, so tests look only at the ones they made."""
    blocks: dict[tuple[str, str], list[str]] = {}
    container = flag = ""
    for line in text.splitlines()[1:]:
        if line.startswith("  container "):
            container = line.strip()
        elif line.startswith("    ") and not line.startswith("      "):
            flag = line.strip()
            blocks[(container, flag)] = []
        else:
            blocks[(container, flag)].append(line.strip())
    return blocks


def test_explain_names_the_untrusted_sidecar_and_why_each_exception_does_not_cover_it(cluster: Path) -> None:
    run = hostns(cluster, "explain", "pod/sniffer", "-n", NAMESPACE)
    assert run.returncode == 1, run.stderr
    assert run.stdout.splitlines()[0] == f"pod/sniffer in {NAMESPACE}: Violation (hostNetwork not covered)"
    blocks = _blocks(run.stdout)
    agent = blocks[(f"container c0: {AGENT}", "hostNetwork: covered")]
    assert "+ plugin-agent: trusts it by registry.example.com/acme/agent:*" in agent
    sidecar = blocks[(f"container c1: {SIDECAR}", "hostNetwork: NOT covered")]
    assert "- plugin-agent: no pattern matches: registry.example.com/acme/agent:*" in sidecar
    assert f"- plugin-kube-system-only: applies in kube-system, not in {NAMESPACE}" in sidecar
    assert not [answer for answer in sidecar if answer.startswith("+")]


def test_explain_a_workload_judges_its_pod_template(cluster: Path) -> None:
    run = hostns(cluster, "explain", "ds/node-agent", "-n", NAMESPACE)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[0] == f"daemonset/node-agent in {NAMESPACE} (pod template): Excepted"


def test_explain_a_manifest_file_against_the_clusters_exceptions(cluster: Path, tmp_path: Path) -> None:
    manifest = tmp_path / "debug.yaml"
    manifest.write_text(json.dumps(_pod("debugger", [SIDECAR], hostPID=True)))
    run = hostns(cluster, "explain", "-f", str(manifest))
    assert run.returncode == 1, run.stderr
    assert "hostPID: NOT covered" in run.stdout
    assert "- plugin-agent: no pattern matches: registry.example.com/acme/agent:*" in run.stdout


def test_explain_of_a_missing_pod_is_one_line_from_kubectl(cluster: Path) -> None:
    run = hostns(cluster, "explain", "pod/nope", "-n", NAMESPACE)
    assert run.returncode == 2
    assert run.stderr.startswith("kubectl hostns: error: ")
    assert "not found" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1


def test_findings_lists_violations_first_with_their_uncovered_images(cluster: Path) -> None:
    exceptions = ExceptionSet([compile_exception(_exception("plugin-agent", ["registry.example.com/acme/agent:*"]))], _now())
    for name, images, flags in (("sniffer", [AGENT, SIDECAR], {"hostNetwork"}), ("agent", [AGENT], {"hostPID"})):
        containers = tuple(Container(f"c{i}", "containers", image, None) for i, image in enumerate(images))
        verdict = evaluate(NAMESPACE, {}, frozenset(flags), containers, exceptions)
        workload = Workload(NAMESPACE, "v1", "Pod", name)
        kubectl(cluster, "apply", "-f", "-", stdin=json.dumps(finding_body(workload, verdict.verdict)))
        status = finding_status(finding_content({name: verdict}), None, "2026-12-01T12:00:00Z")
        kubectl(cluster, "patch", "hnf", workload.finding_name, "-n", NAMESPACE,
                "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))
    run = hostns(cluster, "findings", "-n", NAMESPACE)
    assert run.returncode == 1, run.stderr
    header, first, second = run.stdout.splitlines()
    assert header.split() == ["NAMESPACE", "WORKLOAD", "VERDICT", "HOST-NAMESPACES", "PODS", "UNCOVERED"]
    assert first.split()[:5] == [NAMESPACE, "Pod/sniffer", "Violation", "hostNetwork", "1"]
    assert first.endswith(f"{SIDECAR} (hostNetwork)")
    assert second.split() == [NAMESPACE, "Pod/agent", "Excepted", "hostPID", "1", "-"]


def _now() -> datetime:
    return datetime.now(UTC)
