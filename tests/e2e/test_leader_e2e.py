"""Two replicas with leader election, on a real kube-apiserver, under the HA overlay's RBAC.

Two `hostns run --leader-elect` processes share the Lease hostns-system/hostns-operator
with the rights deploy/overlays/ha grants (its Role on leases, the base ClusterRole for
the rest). Exactly one works at a time; the other evaluates nothing and writes nothing.
The tests kill the leader (the standby takes over after the lease duration), stop it
cleanly (it releases the Lease), and take its right to renew away (it stops itself).
A short lease (5 s: renew every 0.67 s, give up after 3.3 s) keeps the suite quick.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.e2e.harness import REPO, Kubectl, Operator, eventually, install, operator_identity

NAMESPACE = "e2e-ha"
LEASE = ("hostns-system", "hostns-operator")
LEASE_SECONDS = 5.0
ELECTION_ARGS = (
    "--leader-elect", "--leader-elect-namespace", LEASE[0],
    "--leader-elect-duration", f"{LEASE_SECONDS:g}s", "--namespace", NAMESPACE,
)


@pytest.fixture(scope="module")
def admin(control_plane: Any) -> Kubectl:
    k = Kubectl(Path(control_plane.kubeconfig), NAMESPACE)
    install(k, REPO / "deploy" / "overlays" / "ha")
    return k


@pytest.fixture(scope="module")
def identity(admin: Kubectl, control_plane: Any, tmp_path_factory: Any) -> Path:
    return operator_identity(admin, control_plane, Path(tmp_path_factory.mktemp("ha")))


@pytest.fixture
def replicas(identity: Path, tmp_path: Path, admin: Kubectl) -> Iterator[list[Operator]]:
    """Two replicas, started one after the other: the first leads, the second stands by."""
    admin.run("delete", "lease", "-n", LEASE[0], LEASE[1], "--ignore-not-found")
    started: list[Operator] = []
    try:
        for index in range(2):
            replica = Operator(identity, tmp_path / f"replica-{index}.log", *ELECTION_ARGS)
            started.append(replica)  # before start: a failed start is stopped below too
            replica.start()
            eventually(lambda: leader_of(started) is not None, timeout=20)
        yield started
    finally:
        for replica in started:
            replica.stop()


def lease(admin: Kubectl) -> dict[str, Any]:
    spec: dict[str, Any] = admin.json("get", "lease", "-n", LEASE[0], LEASE[1])["spec"]
    return spec


def leader_of(replicas: list[Operator]) -> Operator | None:
    """The one replica whose hostns_leader gauge is 1; fails if two claim to lead."""
    leading = [r for r in replicas if r.process is not None and r.metric("hostns_leader") == 1]
    assert len(leading) <= 1, "two replicas lead at once"
    return leading[0] if leading else None


def host_pod(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"hostNetwork": True, "containers": [{"name": "c", "image": "nginx:1.25"}]},
    }


def finding_verdict(admin: Kubectl, name: str) -> str | None:
    item = admin.findings().get(name)
    return ((item or {}).get("status") or {}).get("verdict")


def test_one_replica_leads_and_the_standby_keeps_its_picture_warm_but_writes_nothing(
    admin: Kubectl, replicas: list[Operator]
) -> None:
    first, second = replicas
    assert leader_of(replicas) is first
    admin.apply(host_pod("ha-one"))
    assert eventually(lambda: finding_verdict(admin, "pod-ha-one") == "Violation")
    assert first.metric("hostns_pods_evaluated_total") >= 1
    assert first.metric("hostns_api_writes_total") >= 1
    # The standby watches pods too (so that a take-over needs no re-list) ...
    assert eventually(lambda: second.metric("hostns_pods_evaluated_total") >= 1)
    # ... and writes nothing: no finding, no status, no Event.
    assert second.metric("hostns_api_writes_total") == 0
    assert second.healthy(), "a standby is alive for its probes"
    assert second.ready(), "a standby with a warm picture is ready"
    spec = lease(admin)
    assert spec["holderIdentity"] and spec["leaseDurationSeconds"] == LEASE_SECONDS


def test_a_killed_leader_is_replaced_after_the_lease_duration(
    admin: Kubectl, replicas: list[Operator]
) -> None:
    first, second = replicas
    holder = lease(admin)["holderIdentity"]
    first.kill()  # no release: the standby must wait for the lease to run out
    assert eventually(lambda: leader_of(replicas) is second, timeout=LEASE_SECONDS + 10)
    spec = lease(admin)
    assert spec["holderIdentity"] != holder
    assert spec["leaseTransitions"] >= 1
    admin.apply(host_pod("ha-two"))
    assert eventually(lambda: finding_verdict(admin, "pod-ha-two") == "Violation")
    assert second.metric("hostns_api_writes_total") >= 1
    # The killed replica comes back (the kubelet would restart it) and stands by.
    first.start()
    assert leader_of(replicas) is second
    assert first.metric("hostns_leader") == 0


def test_pods_that_come_and_go_while_no_one_leads_get_their_findings_from_the_standby(
    admin: Kubectl, replicas: list[Operator]
) -> None:
    first, second = replicas
    first.kill()
    killed_at = time.monotonic()
    # Created and deleted in the gap: only the standby's own watch saw them.
    admin.apply(host_pod("ha-gap"))
    admin.run("delete", "pod", "ha-gap", "-n", NAMESPACE, "--wait=false", "--grace-period=0",
              "--force")
    assert eventually(lambda: finding_verdict(admin, "pod-ha-gap") == "Resolved", timeout=30)
    written_after = time.monotonic() - killed_at
    # A lease duration of silence, the standby's next retry (2/15 of it), then the write.
    assert written_after <= LEASE_SECONDS * (1 + 2 / 15) + 2.5, written_after
    assert leader_of(replicas) is second
    assert eventually(lambda: admin.events("Pod", "ha-gap")), "its Violation Event is posted"
    # No full re-list on take-over: the only complete listing is the standby's first.
    assert second.metric("hostns_pod_listings_total") == 1


def test_a_leader_stopping_cleanly_releases_the_lease_for_the_standby(
    admin: Kubectl, replicas: list[Operator]
) -> None:
    first, second = replicas
    holder = lease(admin)["holderIdentity"]
    first.stop()  # SIGTERM: kopf stops, then the Lease is released before the exit
    assert "released lease hostns-system/hostns-operator" in first.log.read_text()
    # Released (no holder) or, a retry later, already taken by the standby.
    assert lease(admin).get("holderIdentity") != holder
    assert eventually(lambda: leader_of(replicas) is second, timeout=LEASE_SECONDS + 10)
    assert lease(admin)["holderIdentity"] not in (None, "", holder)


def test_a_leader_that_can_no_longer_renew_stops_itself(
    admin: Kubectl, replicas: list[Operator]
) -> None:
    first, second = replicas
    binding = admin.json("get", "rolebinding", "-n", LEASE[0], "hostns-operator-leader-election")
    admin.run("delete", "rolebinding", "-n", LEASE[0], "hostns-operator-leader-election")
    try:
        process = first.process
        assert process is not None
        assert eventually(lambda: process.poll() is not None, timeout=LEASE_SECONDS + 10)
        assert process.returncode == 1, "exit 1: the kubelet restarts it as a candidate"
        assert "could not renew lease" in first.log.read_text()
        first.process = None
        assert second.metric("hostns_leader") == 0, "no right to the Lease, so no leader"
    finally:
        for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
            binding["metadata"].pop(key, None)
        admin.apply(binding)
    assert eventually(lambda: leader_of(replicas) is second, timeout=LEASE_SECONDS + 10)
