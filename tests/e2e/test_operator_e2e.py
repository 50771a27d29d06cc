"""The operator end to end on a real kube-apiserver, under its own least-privilege identity.

The operator runs as a separate process with a ServiceAccount token bound to the
ClusterRole that deploy/base ships — not as admin — so these tests prove the RBAC
is enough; and they ask the API server whether that identity could write a pod.
Pods stay Pending (there is no kubelet): the operator only reads their specs.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import Kubectl, Operator, eventually, install, operator_identity

REPO = Path(__file__).resolve().parents[2]
NAMESPACE = "e2e-apps"
OPERATOR_SA = "system:serviceaccount:hostns-system:hostns-operator"
DEBUG_IMAGE = "registry.example.com/tools/debug:1.0"
DIGEST = "sha256:" + "ab" * 32


def pod(name: str, images: tuple[str, ...] = ("nginx:1.25",), **spec: Any) -> dict[str, Any]:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"app": name}},
        "spec": {"containers": containers, **spec},
    }


def exception(name: str, images: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
        "metadata": {"name": name},
        "spec": {"reason": f"{name}: trusted by the e2e suite", "images": images, **spec},
    }


@pytest.fixture(scope="module")
def admin(control_plane: Any) -> Kubectl:
    return Kubectl(Path(control_plane.kubeconfig), NAMESPACE)


@pytest.fixture(scope="module")
def installed(admin: Kubectl) -> Kubectl:
    """CRDs, namespace, ServiceAccount and RBAC exactly as deploy/base ships them."""
    install(admin, REPO / "deploy" / "base")
    return admin


@pytest.fixture(scope="module")
def operator_kubeconfig(installed: Kubectl, control_plane: Any, tmp_path_factory: Any) -> Path:
    return operator_identity(installed, control_plane, Path(tmp_path_factory.mktemp("operator")))


@pytest.fixture(scope="module")
def operator(operator_kubeconfig: Path, tmp_path_factory: Any) -> Iterator[Operator]:
    log = Path(tmp_path_factory.mktemp("operator-log")) / "operator.log"
    running = Operator(operator_kubeconfig, log)
    running.start()
    eventually(running.ready, timeout=60)  # the pod watch is established
    yield running
    running.stop()
    assert running.process is None


def wait_verdict(k: Kubectl, name: str, verdict: str, timeout: float = 30.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        item = k.findings().get(name)
        return item if item and (item.get("status") or {}).get("verdict") == verdict else None

    found: dict[str, Any] = eventually(check, timeout)
    return found


# --- RBAC ------------------------------------------------------------------------


@pytest.mark.parametrize("verb", ["create", "update", "patch", "delete"])
def test_the_operator_identity_cannot_write_pods(installed: Kubectl, verb: str) -> None:
    result = installed.run("auth", "can-i", verb, "pods", "-A", f"--as={OPERATOR_SA}", check=False)
    assert result.stdout.strip() == "no"
    for sub in ("pods/status", "pods/ephemeralcontainers", "pods/exec"):
        result = installed.run("auth", "can-i", verb, sub, "-A", f"--as={OPERATOR_SA}", check=False)
        assert result.stdout.strip() == "no", sub


@pytest.mark.parametrize("verb", ["get", "list", "watch"])
def test_the_operator_identity_can_read_pods(installed: Kubectl, verb: str) -> None:
    result = installed.run("auth", "can-i", verb, "pods", "-A", f"--as={OPERATOR_SA}", check=False)
    assert result.stdout.strip() == "yes"


def test_a_pod_write_with_the_operator_token_is_denied(operator_kubeconfig: Path) -> None:
    as_operator = Kubectl(operator_kubeconfig, NAMESPACE)
    result = as_operator.run("run", "intruder", "-n", NAMESPACE, "--image=nginx", check=False)
    assert result.returncode != 0
    assert "forbidden" in result.stderr.lower()


# --- behaviour ---------------------------------------------------------------------


def test_a_host_network_pod_gets_a_violation_finding_and_events(
    installed: Kubectl, operator: Operator
) -> None:
    installed.apply(pod("web", hostNetwork=True))
    item = wait_verdict(installed, "pod-web", "Violation")
    assert item["status"]["summary"] == "hostNetwork"
    assert item["status"]["images"][0]["uncovered"] == ["hostNetwork"]
    events = eventually(lambda: installed.events("Pod", "web"))
    assert [(e["type"], e["reason"]) for e in events] == [("Warning", "HostNamespaceViolation")]
    finding_events = eventually(lambda: installed.events("HostNamespaceFinding", "pod-web"))
    assert finding_events[0]["type"] == "Warning"


def test_findings_show_their_columns_in_kubectl_get(installed: Kubectl, operator: Operator) -> None:
    installed.apply(pod("columns", hostPID=True, hostIPC=True))
    wait_verdict(installed, "pod-columns", "Violation")
    table = installed.run("get", "hnf", "-n", NAMESPACE).stdout
    header = table.splitlines()[0].split()
    for column in ("KIND", "WORKLOAD", "VERDICT", "SEVERITY", "PODS", "AGE"):
        assert column in header, table
    row = next(line for line in table.splitlines() if line.startswith("pod-columns"))
    assert "hostPID,hostIPC" in row and "Violation" in row and "medium" in row


def pod_warnings(k: Kubectl, name: str, count: int) -> list[dict[str, Any]]:
    """The pod's Warning Events, once there are `count` of them. A new detection's finding
    is written at once; the pod's Event waits out the settling window (--coalesce), and
    an exception seen within it would rightly cancel it: so wait for it."""
    def check() -> list[dict[str, Any]] | None:
        warnings = [e for e in k.events("Pod", name) if e["type"] == "Warning"]
        return warnings if len(warnings) >= count else None

    found: list[dict[str, Any]] = eventually(check)
    return found


def test_an_exception_is_honoured_edited_and_deleted(installed: Kubectl, operator: Operator) -> None:
    installed.apply(pod("debugger", images=(DEBUG_IMAGE,), hostPID=True))
    wait_verdict(installed, "pod-debugger", "Violation")
    pod_warnings(installed, "debugger", 1)

    installed.apply(exception("e2e-debug", ["registry.example.com/tools/debug"]))
    item = wait_verdict(installed, "pod-debugger", "Excepted")
    assert item["status"]["exceptions"][0]["name"] == "e2e-debug"
    status = eventually(
        lambda: (installed.json("get", "hne", "e2e-debug").get("status") or {})
        if (installed.json("get", "hne", "e2e-debug").get("status") or {}).get("coveredWorkloads") == 1
        else None
    )
    assert status["conditions"][0]["status"] == "True"

    # Editing the exception so it no longer trusts the image flips the finding back.
    installed.apply(exception("e2e-debug", ["registry.example.com/tools/other"]))
    wait_verdict(installed, "pod-debugger", "Violation")
    pod_warnings(installed, "debugger", 2)
    installed.apply(exception("e2e-debug", ["registry.example.com/tools/debug:1.0"]))
    wait_verdict(installed, "pod-debugger", "Excepted")

    installed.run("delete", "hne", "e2e-debug")
    wait_verdict(installed, "pod-debugger", "Violation")
    pod_warnings(installed, "debugger", 3)
    time.sleep(1)  # anything extra would arrive now
    warnings = [e for e in installed.events("Pod", "debugger") if e["type"] == "Warning"]
    assert len(warnings) == 3  # created, after the first edit, after the deletion


def excepted_until(k: Kubectl, name: str, lasting: timedelta, **flags: bool) -> datetime:
    """Pod NAME with one image and an exception e2e-NAME trusting it for `lasting`; waits
    for its finding to be Excepted and returns the exception's expiresAt."""
    expires = datetime.now(UTC) + lasting
    k.apply(exception(f"e2e-{name}", [f"registry.example.com/tools/{name}"],
                      expiresAt=expires.strftime("%Y-%m-%dT%H:%M:%SZ")))
    k.apply(pod(name, images=(f"registry.example.com/tools/{name}:1",), **flags))
    wait_verdict(k, f"pod-{name}", "Excepted")
    return expires


def test_an_exception_expires_on_time(installed: Kubectl, operator: Operator) -> None:
    expires = excepted_until(installed, "expiring", timedelta(seconds=6), hostIPC=True)
    wait_verdict(installed, "pod-expiring", "Violation", timeout=20)
    assert datetime.now(UTC) - expires < timedelta(seconds=8)
    state = eventually(
        lambda: [c for c in (installed.json("get", "hne", "e2e-expiring").get("status") or {})
                 .get("conditions", []) if c.get("reason") == "Expired"]
    )
    assert state[0]["status"] == "False"


def test_a_trusted_container_does_not_vouch_for_an_untrusted_sidecar_or_init_container(
    installed: Kubectl, operator: Operator
) -> None:
    installed.apply(exception("e2e-tools", [DEBUG_IMAGE]))
    body = pod("sidecar", images=(DEBUG_IMAGE, "evil.example/miner:1"), hostNetwork=True)
    installed.apply(body)
    item = wait_verdict(installed, "pod-sidecar", "Violation")
    assert [i["image"] for i in item["status"]["images"] if i["uncovered"]] == ["evil.example/miner:1"]

    init = pod("init", images=(DEBUG_IMAGE,), hostNetwork=True)
    init["spec"]["initContainers"] = [{"name": "setup", "image": "evil.example/setup:1"}]
    installed.apply(init)
    item = wait_verdict(installed, "pod-init", "Violation")
    assert [i["image"] for i in item["status"]["images"] if i["uncovered"]] == ["evil.example/setup:1"]


def test_an_ephemeral_debug_container_is_evaluated(installed: Kubectl, operator: Operator) -> None:
    installed.apply(exception("e2e-node-tools", ["registry.example.com/tools/node"]))
    installed.apply(pod("node-tools", images=("registry.example.com/tools/node:2",), hostPID=True))
    wait_verdict(installed, "pod-node-tools", "Excepted")

    installed.run("debug", "-n", NAMESPACE, "pod/node-tools", "--image=busybox:1.36",
                  "--container=dbg", "--attach=false")
    item = wait_verdict(installed, "pod-node-tools", "Violation")
    assert "docker.io/library/busybox:1.36" in [i["image"] for i in item["status"]["images"] if i["uncovered"]]


@pytest.mark.skipif(
    bool(os.environ.get("HOSTNS_E2E_KUBECONFIG")),
    reason="on a cluster with a kubelet, the kubelet owns pod status and would overwrite ours",
)
def test_a_digest_pin_matches_the_digest_the_kubelet_reports(
    installed: Kubectl, operator: Operator
) -> None:
    image = "registry.example.com/tools/pinned"
    installed.apply(exception("e2e-pinned", [f"{image}@{DIGEST}"]))
    installed.apply(pod("pinned", images=(f"{image}:1",), hostNetwork=True))
    wait_verdict(installed, "pod-pinned", "Violation")  # the digest is not known yet

    # Play the kubelet: report the digest the runtime pulled for the tag.
    status = {"status": {"phase": "Running", "containerStatuses": [{
        "name": "c0", "image": f"{image}:1", "imageID": f"{image}@{DIGEST}",
        "ready": True, "restartCount": 0, "state": {"running": {}},
    }]}}
    installed.run("patch", "pod", "pinned", "-n", NAMESPACE, "--subresource=status",
                  "--type=merge", "-p", json.dumps(status))
    wait_verdict(installed, "pod-pinned", "Excepted")


def test_deleting_a_pod_resolves_its_finding(installed: Kubectl, operator: Operator) -> None:
    installed.apply(pod("gone", hostNetwork=True))
    wait_verdict(installed, "pod-gone", "Violation")
    installed.run("delete", "pod", "gone", "-n", NAMESPACE, "--wait=false")
    item = wait_verdict(installed, "pod-gone", "Resolved")
    assert item["status"]["resolvedAt"]
    assert item["status"]["summary"] == "hostNetwork"


def test_a_pod_that_lives_for_a_second_still_leaves_a_finding(
    installed: Kubectl, operator: Operator
) -> None:
    installed.apply(pod("blink", hostPID=True))
    installed.run("delete", "pod", "blink", "-n", NAMESPACE, "--wait=false", "--grace-period=0",
                  "--force")
    item = wait_verdict(installed, "pod-blink", "Resolved")
    assert item["status"]["summary"] == "hostPID"
    assert eventually(lambda: installed.events("Pod", "blink"))


def test_a_restart_loses_nothing_and_duplicates_nothing(
    installed: Kubectl, operator: Operator
) -> None:
    installed.apply(pod("steady", hostNetwork=True))
    wait_verdict(installed, "pod-steady", "Violation")
    pod_warnings(installed, "steady", 1)
    before = installed.findings()
    events_before = len(installed.events("Pod", "steady"))

    operator.stop()
    installed.run("delete", "pod", "web", "-n", NAMESPACE, "--ignore-not-found", "--wait=false")
    operator.start()

    wait_verdict(installed, "pod-web", "Resolved")  # deleted while the operator was down
    after = installed.findings()
    assert set(after) == set(before)
    assert after["pod-steady"]["status"]["firstSeen"] == before["pod-steady"]["status"]["firstSeen"]
    time.sleep(2)
    assert len(installed.events("Pod", "steady")) == events_before


def test_a_pod_that_blinks_while_the_operator_starts_still_leaves_a_finding(
    installed: Kubectl, operator: Operator
) -> None:
    operator.stop()
    operator.start()  # returns once alive, possibly before it is ready
    installed.apply(pod("early", hostIPC=True))
    installed.run("delete", "pod", "early", "-n", NAMESPACE, "--wait=false", "--grace-period=0",
                  "--force")
    assert eventually(operator.ready, timeout=60)
    item = wait_verdict(installed, "pod-early", "Resolved")
    assert item["status"]["summary"] == "hostIPC"


async def test_the_api_server_serves_the_host_network_listing_of_the_exact_snapshot(
    installed: Kubectl, operator_kubeconfig: Path
) -> None:
    """What the pod watch asks beside its pages (podwatch: host-network pods first):
    the field selector and resourceVersionMatch=Exact, under the operator's identity."""
    from kubernetes_asyncio import config

    from hostns.live.kube import Kube
    from hostns.live.podwatch import HOST_NETWORK_SELECTOR
    from hostns.live.wire import full

    installed.apply(pod("first-hn", hostNetwork=True))
    installed.apply(pod("first-plain"))
    api_client = await config.new_client_from_config(config_file=str(operator_kubeconfig))
    try:
        kube = Kube(api_client)
        snapshot = await kube.list_pod_page(NAMESPACE, limit=1)
        assert snapshot.resource_version
        installed.apply(pod("first-later", hostNetwork=True))  # after the snapshot
        pages = [page async for page in kube.list_pod_pages(
            NAMESPACE, field_selector=HOST_NETWORK_SELECTOR,
            resource_version=snapshot.resource_version)]
    finally:
        await api_client.close()
    names = {full(raw)["metadata"]["name"] for page in pages for raw in page.items}
    assert "first-hn" in names, names
    assert "first-plain" not in names and "first-later" not in names, names
    assert pages[0].resource_version == snapshot.resource_version


def test_the_operator_never_modified_a_pod(installed: Kubectl, operator: Operator) -> None:
    pods = installed.json("get", "pods", "-n", NAMESPACE, "--show-managed-fields")["items"]
    assert pods, "the scenario must have created pods"
    managers = {
        str(entry.get("manager")) for p in pods for entry in p["metadata"].get("managedFields", [])
    }
    assert managers, "managedFields must be recorded"
    # kubectl (this suite) and, on a real cluster, kubelet/scheduler may write pods;
    # the operator's clients (kopf, kubernetes_asyncio) never.
    operator_managers = {m for m in managers if m.startswith(("kopf", "OpenAPI-Generator", "hostns"))}
    assert operator_managers == set(), managers
    for p in pods:
        assert "finalizers" not in p["metadata"], p["metadata"]["name"]
        annotations = p["metadata"].get("annotations") or {}
        assert not [a for a in annotations if "kopf" in a or "hostns" in a], annotations


def test_metrics_count_findings_and_writes(installed: Kubectl, operator: Operator) -> None:
    text = operator.metrics()
    assert "hostns_pods_evaluated_total" in text
    assert 'hostns_findings{host_namespace="hostNetwork",verdict="Violation"}' in text


def sample(text: str, name: str, **labels: str) -> float | None:
    """One sample of a /metrics text, by name and every label (None when absent)."""
    for line in text.splitlines():
        head, _, value = line.rpartition(" ")
        if head.split("{")[0] != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', head))
        if found == labels:
            return float(value)
    return None


def test_metrics_follow_each_exception_and_the_pod_watch(
    installed: Kubectl, operator: Operator
) -> None:
    expires = excepted_until(installed, "metrics", timedelta(days=3), hostPID=True)

    def covered() -> str | None:
        text = operator.metrics()
        found = sample(text, "hostns_exception_covered_workloads", exception="e2e-metrics")
        return text if found == 1 else None

    text: str = eventually(covered)
    left = sample(text, "hostns_exception_expires_in_seconds", exception="e2e-metrics")
    assert left is not None and abs(left - (expires - datetime.now(UTC)).total_seconds()) < 60
    assert sample(text, "hostns_exception_state", exception="e2e-metrics", state="Active") == 1
    assert sample(text, "hostns_exception_state", exception="e2e-metrics", state="Expired") == 0
    alive = sample(text, "hostns_pod_watch_last_event_timestamp_seconds", watch_namespace="*")
    assert alive is not None and time.time() - alive < 360, "a sign of life within a watch"

    installed.run("delete", "hne", "e2e-metrics")
    eventually(lambda: sample(operator.metrics(), "hostns_exception_state",
                              exception="e2e-metrics", state="Active") is None)
    installed.run("delete", "pod", "metrics", "-n", NAMESPACE, "--wait=false")
