"""`hostns audit` on the audit log of a real kube-apiserver, written while kubectl works.

A control plane of its own, started with deploy/audit/audit-policy.yaml and the log
backend: users act through kubectl (impersonated by the admin, as `kubectl --as`
does), then the real `hostns audit` process reads the file the API server wrote.
This proves the reader and the judge on the API server's own serialisation, not on
events we shaped ourselves.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from launcher import ControlPlane
from tests.e2e.conftest import local_plane
from tests.e2e.kube import kubectl, run

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "deploy" / "audit" / "audit-policy.yaml"
HOSTNS = Path(sys.executable).parent / "hostns"
NS, PSA_NS = "audit-e2e", "audit-e2e-baseline"

EXCEPTIONS = """\
apiVersion: hostns.io/v1alpha1
kind: HostNamespaceException
metadata: {name: kube-proxy}
spec:
  reason: kube-proxy programs iptables from the host network.
  images: ["registry.k8s.io/kube-proxy:*"]
  hostNamespaces: [hostNetwork]
"""


@pytest.fixture(scope="module")
def audited() -> Iterator[ControlPlane]:
    yield from local_plane("the audit log of an external cluster is not readable from here",
                           audit_policy=POLICY)


def _pod(name: str, image: str, **spec: Any) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                       "spec": {**spec, "containers": [{"name": "main", "image": image}]}})


def _act(k: Path) -> None:
    """What the users do; each step's expected verdict is in the test below."""
    kubectl(k, "create", "namespace", NS)
    kubectl(k, "create", "namespace", PSA_NS)
    kubectl(k, "label", "namespace", PSA_NS, "pod-security.kubernetes.io/enforce=baseline")
    for namespace in (NS, PSA_NS):
        kubectl(k, "-n", namespace, "create", "role", "workloads",
                "--verb=create,get,list,patch,update",
                "--resource=pods,pods/ephemeralcontainers,deployments.apps")
        kubectl(k, "-n", namespace, "create", "rolebinding", "alice", "--role=workloads",
                "--user=alice")
    alice = ("--as=alice", "-n", NS)
    kubectl(k, *alice, "create", "-f", "-", stdin=_pod(
        "netdebug", "docker.io/nicolaka/netshoot:v0.13", hostNetwork=True))
    kubectl(k, *alice, "create", "-f", "-", stdin=_pod(
        "proxy", "registry.k8s.io/kube-proxy:v1.34.0", hostNetwork=True))
    kubectl(k, *alice, "create", "-f", "-", stdin=_pod(
        "proxy-2", "registry.k8s.io/kube-proxy:v1.34.0", hostNetwork=True))
    kubectl(k, *alice, "create", "-f", "-", stdin=_pod("web", "docker.io/library/nginx:1.27"))
    kubectl(k, *alice, "patch", "pod", "proxy", "--type=json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/containers/0/image",
         "value": "docker.io/library/alpine:3.20"}]))
    kubectl(k, *alice, "debug", "proxy-2", "--image=docker.io/nicolaka/netshoot:v0.13",
            "-c", "dbg", "--profile=general")
    # A client-side dry run renders the Deployment without reaching the API server.
    deployment = json.loads(kubectl(k, *alice, "create", "deployment", "edge",
                                    "--image=docker.io/envoyproxy/envoy:v1.31.0",
                                    "--dry-run=client", "-o", "json"))
    deployment["spec"]["template"]["spec"]["hostNetwork"] = True
    kubectl(k, *alice, "create", "-f", "-", stdin=json.dumps(deployment))
    kubectl(k, *alice, "get", "pods")
    denied = run(k, "--as=mallory", "-n", NS, "create", "-f", "-", check=False,
                 stdin=_pod("evil", "docker.io/library/busybox:1.36", hostPID=True))
    assert denied.returncode == 1 and "forbidden" in denied.stderr
    rejected = run(k, "--as=alice", "-n", PSA_NS, "create", "-f", "-", check=False,
                   stdin=_pod("netdebug", "docker.io/nicolaka/netshoot:v0.13", hostNetwork=True))
    assert rejected.returncode == 1 and "violates PodSecurity" in rejected.stderr


def test_hostns_audit_on_the_api_servers_own_log_names_who_did_what(
    audited: ControlPlane, tmp_path: Path,
) -> None:
    _act(audited.kubeconfig)
    assert audited.audit_log is not None and audited.audit_log.is_file()
    exceptions = tmp_path / "exceptions.yaml"
    exceptions.write_text(EXCEPTIONS)
    result = subprocess.run(
        [str(HOSTNS), "audit", "-f", str(audited.audit_log.parent), "--exceptions",
         str(exceptions), "-o", "json"],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1, result.stderr  # a Violation, a Denied and a Rejected
    assert "bad line" not in result.stderr and "Traceback" not in result.stderr
    ours = [r for r in json.loads(result.stdout) if r["namespace"] in (NS, PSA_NS)]
    seen = [
        (r["verdict"], (r["impersonatedUser"] or {}).get("username"), r["verb"],
         r["subresource"], r["kind"], r["namespace"], r["name"], r["code"])
        for r in ours
    ]
    assert seen == [
        ("Violation", "alice", "create", None, "Pod", NS, "netdebug", 201),
        ("Excepted", "alice", "create", None, "Pod", NS, "proxy", 201),
        ("Excepted", "alice", "create", None, "Pod", NS, "proxy-2", 201),
        # the image patch, judged on the stored pod: kube-proxy's exception no longer applies
        ("Violation", "alice", "patch", None, "Pod", NS, "proxy", 200),
        # kubectl debug: the ephemeral container is not trusted
        ("Violation", "alice", "patch", "ephemeralcontainers", "Pod", NS, "proxy-2", 200),
        ("Violation", "alice", "create", None, "Deployment", NS, "edge", 201),
        ("Denied", "mallory", "create", None, "Pod", NS, None, 403),
        ("Rejected", "alice", "create", None, "Pod", PSA_NS, "netdebug", 403),
    ]
    # The real identity is the admin who impersonated; the web pod (no host namespace)
    # and the reads are counted, not listed.
    assert {r["user"]["username"] for r in ours} == {"hostns-admin"}
    assert {r["decision"] for r in ours} == {"allow", "forbid"}
    debug = ours[4]
    assert [u["image"] for u in debug["uncovered"]] == ["docker.io/nicolaka/netshoot:v0.13"]
    assert ours[1]["exceptions"] == [{"name": "kube-proxy",
                                      "reason": "kube-proxy programs iptables from the host network."}]
