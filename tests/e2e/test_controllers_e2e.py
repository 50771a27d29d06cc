"""The operator on workloads that real controllers turn into pods.

A control plane of its own with kube-controller-manager (hack/controlplane,
`controllers=True`) and the API server's audit log: a Deployment makes a real
ReplicaSet and pods (real ownerReferences, real pod-template-hash), a CronJob makes
a Job that makes a pod, the garbage collector deletes the pods of a deleted
Deployment. The operator runs as a process under the shipped RBAC, as in
test_operator_e2e.py. There is no kubelet or scheduler: pods stay Pending.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import Kubectl, Operator, eventually, install, operator_identity

from hostns.core.workloads import finding_name

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
HOSTNS = Path(sys.executable).parent / "hostns"
NAMESPACE, ALICE_NS = "e2e-controllers", "e2e-alice"
CONTROLLER_SA = "system:serviceaccount:kube-system:{}"
AGENT_IMAGE = "registry.example.com/agents/node-agent:3.1"
EXCEPTION = {
    "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
    "metadata": {"name": "e2e-node-agent"},
    "spec": {"reason": "the node agent reads host network interfaces",
             "images": ["registry.example.com/agents/node-agent"],
             "hostNamespaces": ["hostNetwork"]},
}


def deployment(name: str, namespace: str, replicas: int, image: str, **spec: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "replicas": replicas, "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels},
                         "spec": {"containers": [{"name": "main", "image": image}], **spec}},
        },
    }


def cronjob(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1", "kind": "CronJob",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {
            "schedule": "* * * * *",
            # Its pod never finishes (no kubelet): one Job is enough.
            "concurrencyPolicy": "Forbid",
            "jobTemplate": {"spec": {"backoffLimit": 0, "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"restartPolicy": "Never", "hostPID": True,
                         "containers": [{"name": "main", "image": "busybox:1.36"}]},
            }}},
        },
    }


@pytest.fixture(scope="module")
def admin(controlled_control_plane: Any) -> Kubectl:
    return Kubectl(Path(controlled_control_plane.kubeconfig), NAMESPACE)


@pytest.fixture(scope="module")
def installed(admin: Kubectl) -> Kubectl:
    install(admin, REPO / "deploy" / "base")
    # First, so the CronJob controller fires while the other tests run (once a minute).
    admin.apply(cronjob("nightly"))
    return admin


@pytest.fixture(scope="module")
def operator(installed: Kubectl, controlled_control_plane: Any,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Operator]:
    kubeconfig = operator_identity(installed, controlled_control_plane,
                                   tmp_path_factory.mktemp("operator"))
    running = Operator(kubeconfig, tmp_path_factory.mktemp("operator-log") / "operator.log")
    running.start()
    eventually(running.ready, timeout=60)
    yield running
    running.stop()


def live_pods(k: Kubectl, app: str, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Pods of the app that are not being deleted."""
    items = k.json("get", "pods", "-n", namespace, "-l", f"app={app}")["items"]
    return [p for p in items if not p["metadata"].get("deletionTimestamp")]


def controller_of(obj: dict[str, Any]) -> dict[str, Any]:
    refs = [r for r in obj["metadata"].get("ownerReferences", []) if r.get("controller")]
    assert len(refs) == 1, obj["metadata"]
    return refs[0]


def findings_of(k: Kubectl, kind: str, name: str, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """Findings in the namespace for that workload (by spec.workload, not by name)."""
    items = k.json("get", "hostnamespacefindings", "-n", namespace)["items"]
    return [f for f in items if (f["spec"]["workload"]["kind"], f["spec"]["workload"]["name"])
            == (kind, name)]


def agreeing_finding(k: Kubectl, app: str, verdict: str) -> dict[str, Any] | None:
    """The Deployment's finding once it has `verdict` and names exactly its live pods."""
    pods = {p["metadata"]["name"] for p in live_pods(k, app)}
    found = findings_of(k, "Deployment", app)
    if len(found) != 1 or not pods:
        return None
    status = found[0].get("status") or {}
    if status.get("verdict") != verdict or set(status["pods"]["names"]) != pods:
        return None
    assert status["pods"]["count"] == len(pods)
    return found[0]


def test_a_deployment_is_one_finding_for_the_pods_its_replicaset_made(
    installed: Kubectl, operator: Operator
) -> None:
    installed.apply(deployment("edge", NAMESPACE, 3, "nginx:1.25", hostNetwork=True))
    found = eventually(lambda: len(live_pods(installed, "edge")) == 3 and
                       agreeing_finding(installed, "edge", "Violation"), timeout=60)
    assert found["metadata"]["name"] == "deployment-edge"
    assert found["spec"]["workload"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                         "name": "edge"}
    (replicaset,) = installed.json("get", "replicasets", "-n", NAMESPACE, "-l", "app=edge")["items"]
    template_hash = replicaset["metadata"]["labels"]["pod-template-hash"]
    assert replicaset["metadata"]["name"] == f"edge-{template_hash}"
    assert controller_of(replicaset)["kind"] == "Deployment"
    for pod in live_pods(installed, "edge"):  # made by the controller, not by us
        assert controller_of(pod)["name"] == replicaset["metadata"]["name"]
        assert pod["metadata"]["labels"]["pod-template-hash"] == template_hash
        assert pod["metadata"]["generateName"] == f"edge-{template_hash}-"
    names = set(installed.findings())
    assert not [n for n in names if n.startswith(("replicaset-edge", "pod-edge"))], names


def test_scaling_and_a_rollout_keep_one_finding_for_the_deployment(
    installed: Kubectl, operator: Operator
) -> None:
    installed.run("scale", "deployment", "edge", "-n", NAMESPACE, "--replicas=5")
    eventually(lambda: len(live_pods(installed, "edge")) == 5 and
               agreeing_finding(installed, "edge", "Violation"), timeout=60)

    # A new template: a second ReplicaSet. Its pods never become available (no
    # kubelet), so the rollout stops half way, with pods of both templates running.
    installed.run("set", "image", "deployment/edge", "main=nginx:1.27", "-n", NAMESPACE)

    def both_templates() -> dict[str, Any] | None:
        hashes = {p["metadata"]["labels"]["pod-template-hash"] for p in live_pods(installed, "edge")}
        return agreeing_finding(installed, "edge", "Violation") if len(hashes) == 2 else None

    found = eventually(both_templates, timeout=60)
    replicasets = installed.json("get", "replicasets", "-n", NAMESPACE, "-l", "app=edge")["items"]
    assert len(replicasets) == 2
    images = {i["image"] for i in found["status"]["images"]}
    assert {"docker.io/library/nginx:1.25", "docker.io/library/nginx:1.27"} <= images, images
    assert len(findings_of(installed, "Deployment", "edge")) == 1
    assert not findings_of(installed, "ReplicaSet", replicasets[0]["metadata"]["name"])


def test_deleting_the_deployment_lets_the_garbage_collector_resolve_its_finding(
    installed: Kubectl, operator: Operator
) -> None:
    assert live_pods(installed, "edge")
    # kubectl deletes in the background: the garbage collector removes the
    # ReplicaSets, then their pods; the operator sees only the pods go.
    installed.run("delete", "deployment", "edge", "-n", NAMESPACE, "--wait=false")
    eventually(lambda: not installed.json("get", "pods", "-n", NAMESPACE, "-l", "app=edge")["items"]
               and not installed.json("get", "replicasets", "-n", NAMESPACE, "-l", "app=edge")["items"],
               timeout=60)
    (found,) = eventually(lambda: [
        f for f in findings_of(installed, "Deployment", "edge")
        if (f.get("status") or {}).get("verdict") == "Resolved"
    ])
    assert found["status"]["pods"] == {"count": 0, "names": []}
    assert found["status"]["resolvedAt"]


def test_hostns_audit_names_alice_for_the_deployment_and_the_controllers_for_its_pods(
    installed: Kubectl, operator: Operator, controlled_control_plane: Any, tmp_path: Path,
) -> None:
    audit_log = controlled_control_plane.audit_log
    assert audit_log is not None and audit_log.is_file()
    alice = Kubectl(installed.kubeconfig, ALICE_NS)
    installed.run("create", "namespace", ALICE_NS)
    installed.run("-n", ALICE_NS, "create", "role", "deployer", "--verb=create,get,list,patch,update",
                  "--resource=deployments.apps")
    installed.run("-n", ALICE_NS, "create", "rolebinding", "alice", "--role=deployer", "--user=alice")
    installed.apply(EXCEPTION)
    # Let the operator hold the exception before the pods exist, as the log will show.
    eventually(lambda: (installed.json("get", "hne", "e2e-node-agent").get("status") or {})
               .get("conditions"))
    stacks = {"alice-edge": (2, "nginx:1.25", "Violation"),
              "alice-agent": (1, AGENT_IMAGE, "Excepted")}
    for name, (replicas, image, _) in stacks.items():
        alice.run("--as=alice", "create", "-f", "-", stdin=json.dumps(
            deployment(name, ALICE_NS, replicas, image, hostNetwork=True)))
    findings: dict[str, dict[str, Any]] = {}
    for name, (replicas, _, verdict) in stacks.items():
        pods = eventually(lambda n=name, r=replicas: len(live_pods(alice, n, ALICE_NS)) == r
                          and live_pods(alice, n, ALICE_NS), timeout=60)

        def settled(n: str = name, v: str = verdict, p: list[Any] = pods) -> Any:
            found = findings_of(alice, "Deployment", n, ALICE_NS)
            status = (found[0].get("status") or {}) if found else {}
            return found[0] if status.get("verdict") == v and status["pods"]["count"] == len(p) else None

        findings[name] = eventually(settled, timeout=60)

    exceptions = tmp_path / "exceptions.json"
    exceptions.write_text(json.dumps(EXCEPTION))
    result = subprocess.run(
        [str(HOSTNS), "audit", "-f", str(audit_log), "--exceptions", str(exceptions), "-o", "json"],
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 1, result.stderr  # alice-edge's writes are Violations
    assert "bad line" not in result.stderr and "Traceback" not in result.stderr
    ours = [r for r in json.loads(result.stdout) if r["namespace"] == ALICE_NS]

    def writes(kind: str, verb: str, name_prefix: str) -> list[dict[str, Any]]:
        return [r for r in ours if (r["kind"], r["verb"]) == (kind, verb)
                and (r["name"] or "").startswith(name_prefix)]

    for name, (replicas, _, verdict) in stacks.items():
        (created,) = writes("Deployment", "create", name)
        assert (created["impersonatedUser"] or {}).get("username") == "alice"
        assert created["user"]["username"] == "hostns-admin"  # who impersonated
        assert created["verdict"] == verdict
        (made,) = writes("ReplicaSet", "create", f"{name}-")
        assert made["user"]["username"] == CONTROLLER_SA.format("deployment-controller")
        assert made["impersonatedUser"] is None
        pod_writes = writes("Pod", "create", f"{name}-")
        assert len(pod_writes) == replicas
        assert {r["user"]["username"] for r in pod_writes} == {
            CONTROLLER_SA.format("replicaset-controller")}
        assert {r["userAgent"].split("/")[0] for r in [*pod_writes, made]} == {
            "kube-controller-manager"}
        assert {r["name"] for r in pod_writes} == set(findings[name]["status"]["pods"]["names"])

    # Every pod and workload write of the test: the offline verdict is the operator's.
    assert ours and {r["kind"] for r in ours} == {"Deployment", "ReplicaSet", "Pod"}
    for r in ours:
        workload = r["workload"]
        assert workload["kind"] == "Deployment", r
        operator_view = findings[workload["name"]]
        assert operator_view["metadata"]["name"] == finding_name("Deployment", workload["name"])
        assert r["verdict"] == operator_view["status"]["verdict"], r


def test_a_cronjob_job_and_pod_chain_is_the_cronjobs_finding(
    installed: Kubectl, operator: Operator
) -> None:
    # Last in the module: the CronJob was created in its setup and fires on the next
    # minute, while the tests above run.
    def fired() -> list[dict[str, Any]]:
        return list(installed.json("get", "pods", "-n", NAMESPACE, "-l", "app=nightly")["items"])

    (pod,) = eventually(fired, timeout=130)
    job_ref = controller_of(pod)
    assert job_ref["kind"] == "Job"
    job = installed.json("get", "job", job_ref["name"], "-n", NAMESPACE)
    assert controller_of(job) == {**controller_of(job), "kind": "CronJob", "name": "nightly"}
    # The naming core/workloads.py derives the CronJob from: `<cronjob>-<scheduled
    # time in Unix minutes>`, checked against the controller's own annotation.
    scheduled = job["metadata"]["annotations"]["batch.kubernetes.io/cronjob-scheduled-timestamp"]
    minutes = int(datetime.fromisoformat(scheduled).timestamp()) // 60
    assert job["metadata"]["name"] == f"nightly-{minutes}"

    (found,) = eventually(lambda: [
        f for f in findings_of(installed, "CronJob", "nightly")
        if (f.get("status") or {}).get("verdict") == "Violation"
    ])
    assert found["metadata"]["name"] == "cronjob-nightly"
    assert found["spec"]["workload"]["apiVersion"] == "batch/v1"
    assert found["status"]["pods"]["names"] == [pod["metadata"]["name"]]
    assert found["status"]["summary"] == "hostPID"
    assert not findings_of(installed, "Job", job["metadata"]["name"])
