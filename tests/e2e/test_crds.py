"""The CRDs on a real API server: accepted, explained, printed, and validating at admission."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "a" * 64


def kubectl(control_plane: Any, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["kubectl", f"--kubeconfig={control_plane.kubeconfig}", *args],
        input=stdin, capture_output=True, text=True, timeout=60,
    )


@pytest.fixture(scope="module")
def crds(control_plane: Any) -> Any:
    applied = kubectl(control_plane, "apply", "-f", str(REPO / "crds" / "hostnamespaceexceptions.yaml"),
                      "-f", str(REPO / "crds" / "hostnamespacefindings.yaml"))
    assert applied.returncode == 0, applied.stderr
    established = kubectl(control_plane, "wait", "--for=condition=Established", "--timeout=60s",
                          "crd/hostnamespaceexceptions.hostns.io", "crd/hostnamespacefindings.hostns.io")
    assert established.returncode == 0, established.stderr
    return control_plane


def exception(images: list[str], **spec: Any) -> str:
    return json.dumps({
        "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
        "metadata": {"name": "crd-test"},
        "spec": {"reason": "testing admission", "images": images, **spec},
    })


def test_the_hostns_category_lists_both_kinds(crds: Any) -> None:
    result = kubectl(crds, "api-resources", "--categories=hostns", "-o", "name")
    assert result.returncode == 0, result.stderr
    assert set(result.stdout.split()) == {
        "hostnamespaceexceptions.hostns.io", "hostnamespacefindings.hostns.io"
    }
    assert kubectl(crds, "get", "hostns", "-A").returncode == 0


def test_short_names_work(crds: Any) -> None:
    assert kubectl(crds, "get", "hne").returncode == 0
    assert kubectl(crds, "get", "hnf", "-A").returncode == 0


def test_kubectl_explain_teaches_the_matching_rule(crds: Any) -> None:
    # The API server publishes a new CRD's OpenAPI schema a few seconds after it is Established.
    deadline = time.monotonic() + 60
    while (result := kubectl(crds, "explain", "hostnamespaceexception.spec.images")).returncode:
        assert time.monotonic() < deadline, result.stderr
        time.sleep(1)
    assert "EVERY container" in result.stdout
    assert "digest" in result.stdout
    finding = kubectl(crds, "explain", "hostnamespacefinding.status.verdict")
    assert "Resolved" in finding.stdout


@pytest.mark.parametrize("image", [
    "nginx", "nginx:1.25", "docker.io/library/nginx:*", "registry.k8s.io/kube-proxy:*",
    "registry.k8s.io/kube-proxy", "localhost:5000/tools/debug:v1", "ghcr.io/acme/*",
    "ghcr.io/acme/agent-*:v2.*", f"quay.io/cilium/cilium:v1.16.0@{DIGEST}",
    f"registry.k8s.io/pause@{DIGEST}", "docker.io/elastic/elastic-agent:8.15.0",
])
def test_a_well_formed_pattern_is_admitted(crds: Any, image: str) -> None:
    result = kubectl(crds, "apply", "--dry-run=server", "-f", "-", stdin=exception([image]))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(("image", "message"), [
    ("*elastic-agent*", "'*' is not allowed in the registry host or the first path component"),
    ("*/nginx", "'*' is not allowed in the registry host or the first path component"),
    ("reg*.example.com/x", "'*' is not allowed in the registry host or the first path component"),
    ("elastic-agent*", "'*' is not allowed in the registry host or the first path component"),
    ("registry.example.com:5*/x", "'*' is not allowed in the registry host or the first path component"),
    ("nginx@sha256:abc", "a digest must be sha256: followed by 64 lowercase hex characters"),
    ("nginx@md5:" + "a" * 64, "a digest must be sha256: followed by 64 lowercase hex characters"),
    ("nginx@sha256:" + "A" * 64, "a digest must be sha256: followed by 64 lowercase hex characters"),
    (f"registry.k8s.io/*@{DIGEST}", "'*' is not allowed with @sha256"),
    ("docker.io/library/Nginx", "with a lowercase repository path"),
    ("ng inx", "no spaces"),
])
def test_a_bad_pattern_is_rejected_at_admission_with_a_clear_message(
    crds: Any, image: str, message: str
) -> None:
    result = kubectl(crds, "apply", "--dry-run=server", "-f", "-", stdin=exception([image]))
    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.parametrize(("spec", "message"), [
    ({"hostNamespaces": ["hostUTS"]}, 'supported values: "hostNetwork", "hostPID", "hostIPC"'),
    ({"reason": "   "}, "reason must not be blank"),
    ({"reason": ""}, "spec.reason"),
    ({"images": []}, "spec.images"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "In"}]}},
     "In and NotIn need values"),
    ({"podSelector": {"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]}},
     "Exists and DoesNotExist take none"),
    ({"expiresAt": "tomorrow"}, "date-time"),
    ({"namespaces": ["Not_A_Namespace"]}, "spec.namespaces"),
])
def test_a_bad_exception_spec_is_rejected_at_admission(
    crds: Any, spec: dict[str, Any], message: str
) -> None:
    body = json.loads(exception(["nginx"]))
    body["spec"].update(spec)
    result = kubectl(crds, "apply", "--dry-run=server", "-f", "-", stdin=json.dumps(body))
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


def test_findings_print_their_columns_and_keep_their_workload(crds: Any) -> None:
    finding = {
        "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceFinding",
        "metadata": {"name": "daemonset-agent", "namespace": "default"},
        "spec": {"workload": {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent"}},
    }
    created = kubectl(crds, "apply", "-f", "-", stdin=json.dumps(finding))
    assert created.returncode == 0, created.stderr
    header = kubectl(crds, "get", "hnf", "-A").stdout.splitlines()[0].split()
    assert header == ["NAMESPACE", "NAME", "KIND", "WORKLOAD", "HOST-NAMESPACES", "VERDICT",
                      "SEVERITY", "PODS", "AGE"]

    finding["spec"]["workload"]["name"] = "other"
    changed = kubectl(crds, "apply", "-f", "-", stdin=json.dumps(finding))
    assert changed.returncode != 0
    assert "the workload identity of a finding never changes" in changed.stderr
    kubectl(crds, "delete", "hnf", "daemonset-agent", "-n", "default")
