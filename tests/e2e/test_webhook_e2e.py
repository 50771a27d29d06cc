"""Live attribution on a real kube-apiserver: its audit webhook backend posts to the operator.

A control plane of its own (the shipped audit policy, the log and the webhook
backends; `ControlPlane(audit_webhook=True)` makes the operator's serving
certificate, the API server's client certificate under a CA of its own, and a
token), the operator under the shipped RBAC serving the webhook, and users who are
not admin (`kubectl --as=alice`, `--as=mallory`) writing pods and Deployments.
There is no kube-controller-manager here yet: a Deployment's ReplicaSet and pod are
made by hand with the ownerReferences and pod-template-hash the controllers set.
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from launcher import AuditWebhook, ControlPlane
from tests.e2e.conftest import local_plane
from tests.e2e.harness import Kubectl, Operator, eventually, install, operator_identity

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
POLICY = REPO / "deploy" / "audit" / "audit-policy.yaml"
NS = "webhook-e2e"
MAX_BODY = 2 << 20
EXCEPTION = {
    "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
    "metadata": {"name": "webhook-e2e-kube-proxy"},
    "spec": {"reason": "kube-proxy programs iptables from the host network.",
             "images": ["registry.k8s.io/kube-proxy:*"], "hostNamespaces": ["hostNetwork"],
             "namespaces": [NS]},
}


@pytest.fixture(scope="module")
def plane() -> Iterator[ControlPlane]:
    yield from local_plane("an external cluster's API server cannot be pointed at this "
                           "test's webhook", audit_policy=POLICY, audit_webhook=True)


@pytest.fixture(scope="module")
def admin(plane: ControlPlane) -> Kubectl:
    admin = Kubectl(plane.kubeconfig, NS)
    install(admin, REPO / "deploy" / "base")
    admin.run("-n", NS, "create", "role", "workloads", "--verb=create,get,list,patch,update",
              "--resource=pods,deployments.apps")
    for user in ("alice", "mallory"):
        admin.run("-n", NS, "create", "rolebinding", user, "--role=workloads", f"--user={user}")
    admin.apply(EXCEPTION)
    return admin


@pytest.fixture(scope="module")
def webhook(plane: ControlPlane) -> AuditWebhook:
    assert plane.audit_webhook is not None
    return plane.audit_webhook


@pytest.fixture(scope="module")
def operator(admin: Kubectl, plane: ControlPlane, webhook: AuditWebhook,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    directory = Path(tmp_path_factory.mktemp("webhook-operator"))
    running = Operator(operator_identity(admin, plane, directory), directory / "operator.log",
                       *webhook.operator_args(), "--audit-webhook-max-body", str(MAX_BODY))
    running.start()
    eventually(running.ready, timeout=60)
    yield running
    running.stop()


def _as(admin: Kubectl, user: str, *args: str, stdin: str | None = None) -> str:
    return admin.run(f"--as={user}", "-n", NS, *args, stdin=stdin).stdout


def _pod(name: str, image: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {**spec, "containers": [{"name": "main", "image": image}]}}


def _actors(admin: Kubectl, finding: str) -> list[dict[str, Any]]:
    item = admin.findings().get(finding) or {}
    return list((item.get("status") or {}).get("actors") or [])


def _by(actors: list[dict[str, Any]], user: str) -> list[dict[str, Any]]:
    return [a for a in actors if (a.get("impersonatedUser") or {}).get("username") == user]


def test_alices_host_network_deployment_names_her_in_its_finding(
    admin: Kubectl, operator: Operator,
) -> None:
    # A server-side dry run first: it writes nothing, so it must name nobody.
    ghost = _pod("ghost", "docker.io/library/busybox:1.36", hostPID=True)
    _as(admin, "alice", "create", "--dry-run=server", "-f", "-", stdin=json.dumps(ghost))
    deployment = json.loads(_as(admin, "alice", "create", "deployment", "edge",
                                "--image=docker.io/envoyproxy/envoy:v1.31.0",
                                "--dry-run=client", "-o", "json"))
    deployment["spec"]["template"]["spec"]["hostNetwork"] = True
    created = json.loads(_as(admin, "alice", "create", "-o", "json", "-f", "-",
                             stdin=json.dumps(deployment)))
    # What the deployment and replicaset controllers would make (no kcm here).
    template = created["spec"]["template"]
    owner = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "edge",
             "uid": created["metadata"]["uid"], "controller": True}
    replicaset = json.loads(admin.run("create", "-o", "json", "-f", "-", stdin=json.dumps({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "edge-7c9f8d6b5", "namespace": NS, "ownerReferences": [owner]},
        "spec": {"replicas": 1, "selector": {"matchLabels": {**template["metadata"]["labels"],
                                                             "pod-template-hash": "7c9f8d6b5"}},
                 "template": {**template, "metadata": {"labels": {
                     **template["metadata"]["labels"], "pod-template-hash": "7c9f8d6b5"}}}},
    })).stdout)
    admin.run("create", "-f", "-", stdin=json.dumps({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "edge-7c9f8d6b5-x2x9q", "namespace": NS,
                     "labels": {**template["metadata"]["labels"],
                                "pod-template-hash": "7c9f8d6b5"},
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                          "name": "edge-7c9f8d6b5", "controller": True,
                                          "uid": replicaset["metadata"]["uid"]}]},
        "spec": template["spec"],
    }))
    actors = eventually(lambda: _by(_actors(admin, "deployment-edge"), "alice"), timeout=60)
    [alice] = actors
    assert (alice["verb"], alice["resource"], alice["name"]) == ("create", "deployments", "edge")
    assert alice["username"] == "hostns-admin"  # who authenticated and impersonated her
    assert alice["userAgent"].startswith("kubectl/") and alice["sourceIPs"] == ["127.0.0.1"]
    assert alice["auditID"] and alice["time"]
    everyone = eventually(lambda: len(_actors(admin, "deployment-edge")) >= 3 and
                          _actors(admin, "deployment-edge"), timeout=30)
    # The hand-made ReplicaSet and pod are the same workload's: one finding, three writers.
    assert {(a["resource"], a["name"]) for a in everyone} == {
        ("deployments", "edge"), ("replicasets", "edge-7c9f8d6b5"),
        ("pods", "edge-7c9f8d6b5-x2x9q")}
    assert [a["time"] for a in everyone] == sorted((a["time"] for a in everyone), reverse=True)
    assert "pod-ghost" not in admin.findings()
    assert operator.metric("hostns_audit_webhook_requests_total") > 0


def test_mallorys_image_patch_turns_an_excepted_pod_into_a_violation_naming_her(
    admin: Kubectl, operator: Operator,
) -> None:
    admin.apply(_pod("proxy", "registry.k8s.io/kube-proxy:v1.34.0", hostNetwork=True))
    eventually(lambda: (admin.findings().get("pod-proxy") or {}).get("status", {})
               .get("verdict") == "Excepted", timeout=30)
    _as(admin, "mallory", "patch", "pod", "proxy", "--type=json", "-p", json.dumps([
        {"op": "replace", "path": "/spec/containers/0/image",
         "value": "docker.io/library/alpine:3.20"}]))
    actors = eventually(lambda: _by(_actors(admin, "pod-proxy"), "mallory"), timeout=60)
    assert actors[0]["verb"] == "patch" and actors[0]["resource"] == "pods"
    item = admin.findings()["pod-proxy"]
    assert item["status"]["verdict"] == "Violation"
    assert _by(item["status"]["actors"], "mallory") == [item["status"]["actors"][0]]

    def naming_mallory() -> list[dict[str, Any]]:
        return [e for e in admin.events("HostNamespaceFinding", "pod-proxy")
                if e["type"] == "Warning" and "mallory (impersonated by hostns-admin) via "
                "kubectl: patch pods proxy" in e["message"]]

    assert eventually(naming_mallory, timeout=30)


def _post(webhook: AuditWebhook, body: bytes, *, cert: bool = True,
          token: str | None = None) -> int:
    context = ssl.create_default_context(cafile=str(webhook.serving_cert.parent / "ca.crt"))
    if cert:
        pki = webhook.serving_cert.parent
        context.load_cert_chain(str(pki / "webhook-client.crt"), str(pki / "webhook-client.key"))
    connection = http.client.HTTPSConnection("127.0.0.1", webhook.port, context=context,
                                             timeout=30)
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    try:
        connection.request("POST", "/audit", body=body, headers=headers)
        return connection.getresponse().status
    finally:
        connection.close()


def _unauthorized(operator: Operator) -> float:
    found = re.search(r'^hostns_audit_webhook_requests_total\{outcome="unauthorized"\} (\S+)$',
                      operator.metrics(), re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _forged(name: str) -> bytes:
    """A batch claiming that `eve` created the pod `name`."""
    pod = _pod(name, "docker.io/library/alpine:3.20", hostNetwork=True)
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": [{
        "level": "RequestResponse", "auditID": "forged-1", "stage": "ResponseComplete",
        "requestURI": f"/api/v1/namespaces/{NS}/pods", "verb": "create",
        "user": {"username": "eve"}, "sourceIPs": ["10.6.6.6"], "userAgent": "curl/8",
        "objectRef": {"resource": "pods", "namespace": NS, "name": name, "apiVersion": "v1"},
        "responseStatus": {"code": 201}, "responseObject": pod,
        "requestReceivedTimestamp": "2099-01-01T00:00:00.000000Z",
        "annotations": {"authorization.k8s.io/decision": "allow"},
    }]}).encode()


def test_an_unauthenticated_post_is_refused_and_changes_nothing(
    admin: Kubectl, operator: Operator, webhook: AuditWebhook,
) -> None:
    admin.apply(_pod("quiet", "docker.io/library/alpine:3.20", hostNetwork=True))
    eventually(lambda: "pod-quiet" in admin.findings(), timeout=30)
    before = _unauthorized(operator)
    token = webhook.token_file.read_text().strip()
    assert _post(webhook, _forged("quiet"), cert=False, token=token) == 401
    assert _post(webhook, _forged("quiet"), token="not-the-token") == 401
    assert _post(webhook, _forged("quiet")) == 401  # the certificate alone is not enough here
    assert _unauthorized(operator) == before + 3
    assert _post(webhook, b"{" * (MAX_BODY + 1), token=token) == 413
    # The API server's own batches still arrive; none of the forged ones did.
    admin.run("label", "pod", "quiet", "seen=yes", "-n", NS)
    eventually(lambda: _actors(admin, "pod-quiet"), timeout=60)
    assert all(a["username"] != "eve" for a in _actors(admin, "pod-quiet"))
