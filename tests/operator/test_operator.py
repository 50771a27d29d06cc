"""The live operator end to end against kmock's Kubernetes emulator, real kopf runtime."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from hostns.live.config import Config
from hostns.live.controller import Controller

from .conftest import Cluster, running_operator

DEBUG_IMAGE = "registry.example.com/tools/debug:1.0"


def pod(
    name: str,
    *,
    namespace: str = "default",
    images: tuple[str, ...] = ("nginx:1.25",),
    owner: tuple[str, str] | None = None,
    labels: dict[str, str] | None = None,
    **flags: bool,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name, "namespace": namespace, "uid": f"uid-{namespace}-{name}",
        "labels": labels or {},
    }
    if owner is not None:
        kind, owner_name = owner
        metadata["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": kind, "name": owner_name, "uid": "o", "controller": True}
        ]
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": metadata,
        "spec": {**flags, "containers": containers},
    }


def exception(name: str, images: list[str], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
        "metadata": {"name": name, "generation": 1},
        "spec": {"reason": f"{name} is trusted", "images": images, **spec},
    }


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 8.0) -> Any:
    """Poll `check` until it returns a truthy value; fail with the last value."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout}s; last value: {last!r}")


async def finding(cluster: Cluster, namespace: str, name: str, verdict: str) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        for item in await cluster.findings(namespace):
            status = item.get("status") or {}
            if item["metadata"]["name"] == name and status.get("verdict") == verdict:
                return item
        return None

    found: dict[str, Any] = await eventually(check)
    return found


async def test_a_host_network_pod_gets_a_violation_finding_and_a_warning_event(
    cluster: Cluster, operator: Controller
) -> None:
    await cluster.create_pod(pod("web", hostNetwork=True))

    item = await finding(cluster, "default", "pod-web", "Violation")
    status = item["status"]
    assert item["spec"]["workload"] == {"apiVersion": "v1", "kind": "Pod", "name": "web"}
    assert item["metadata"]["labels"]["hostns.io/verdict"] == "Violation"
    assert status["summary"] == "hostNetwork"
    assert status["severity"] == "medium" and status["riskScore"] == 47
    assert status["hostNamespaces"][0]["rule"] == "Kubernetes Pod Created With HostNetwork"
    assert status["images"] == [
        {"image": "docker.io/library/nginx:1.25", "hostNamespaces": ["hostNetwork"],
         "uncovered": ["hostNetwork"]}
    ]
    assert status["pods"] == {"count": 1, "names": ["web"]}
    pod_events = await eventually(lambda: _async(cluster.events("Pod")))
    assert len(pod_events) == 1
    assert pod_events[0]["type"] == "Warning"
    assert pod_events[0]["reason"] == "HostNamespaceViolation"
    assert "hostNetwork" in pod_events[0]["message"]
    assert "docker.io/library/nginx:1.25" in pod_events[0]["message"]
    finding_events = await eventually(lambda: _async(cluster.events("HostNamespaceFinding")))
    assert [e["type"] for e in finding_events] == ["Warning"]


async def _async(value: Any) -> Any:
    return value


async def test_an_exception_flips_the_finding_to_excepted_and_back_when_deleted(
    cluster: Cluster, operator: Controller
) -> None:
    await cluster.create_pod(pod("debugger", images=(DEBUG_IMAGE,), hostPID=True))
    await finding(cluster, "default", "pod-debugger", "Violation")
    # The new detection's finding is written at once; the pod's Event waits out the
    # settling window, and an exception seen within it would (rightly) cancel it.
    await eventually(lambda: _async(cluster.events("Pod")))

    await cluster.create_exception(exception("debug-tools", ["registry.example.com/tools/debug"]))
    item = await finding(cluster, "default", "pod-debugger", "Excepted")
    assert item["status"]["exceptions"] == [
        {"name": "debug-tools", "reason": "debug-tools is trusted"}
    ]
    status = await eventually(
        lambda: _exception_status(cluster, "debug-tools", covered=1)
    )
    assert status["conditions"][0]["type"] == "Active"
    assert status["conditions"][0]["status"] == "True"

    await cluster.delete_exception("debug-tools")
    await finding(cluster, "default", "pod-debugger", "Violation")
    # The finding's Event follows its status write, the pod's waits out the settling
    # window (the finding of a new detection is written at once): wait for both, then
    # count them all.
    await eventually(lambda: _async(len(cluster.events("HostNamespaceFinding")) >= 3
                                    and len(cluster.events("Pod")) >= 2))
    await asyncio.sleep(0.3)  # anything extra would arrive now
    kinds = [(e["involvedObject"]["kind"], e["type"]) for e in cluster.events()]
    assert kinds.count(("HostNamespaceFinding", "Normal")) == 1  # the Excepted transition
    assert kinds.count(("HostNamespaceFinding", "Warning")) == 2  # first seen, and back
    assert kinds.count(("Pod", "Warning")) == 2  # once per transition into Violation


async def _exception_status(cluster: Cluster, name: str, covered: int) -> dict[str, Any] | None:
    status = (await cluster.get_exception(name)).get("status") or {}
    return status if status.get("coveredWorkloads") == covered else None


async def test_an_expiring_exception_flips_the_finding_on_time_without_a_pod_event(
    cluster: Cluster, operator: Controller
) -> None:
    expires = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    await cluster.create_exception(exception("temporary", [DEBUG_IMAGE], expiresAt=expires))
    await cluster.create_pod(pod("debugger", images=(DEBUG_IMAGE,), hostIPC=True))
    await finding(cluster, "default", "pod-debugger", "Excepted")
    assert cluster.events("Pod") == []

    await finding(cluster, "default", "pod-debugger", "Violation")
    flipped_at = datetime.now(UTC)
    assert flipped_at - datetime.fromisoformat(expires.replace("Z", "+00:00")) < timedelta(seconds=4)
    status = await eventually(lambda: _exception_status(cluster, "temporary", covered=0))
    assert status["conditions"][0]["reason"] == "Expired"


async def test_deleting_the_pod_resolves_the_finding_and_keeps_the_record(
    cluster: Cluster, operator: Controller
) -> None:
    await cluster.create_pod(pod("sniffer", hostNetwork=True, hostPID=True))
    await finding(cluster, "default", "pod-sniffer", "Violation")

    await cluster.delete_pod("default", "sniffer")
    item = await finding(cluster, "default", "pod-sniffer", "Resolved")
    status = item["status"]
    assert status["pods"] == {"count": 0, "names": []}
    assert status["summary"] == "hostNetwork,hostPID"  # what ran is still on record
    assert status["resolvedAt"]
    assert item["metadata"]["labels"]["hostns.io/verdict"] == "Resolved"


async def test_a_pod_that_lives_for_an_instant_still_leaves_a_finding_and_an_event(
    cluster: Cluster, operator: Controller
) -> None:
    await cluster.create_pod(pod("blink", hostPID=True))
    await cluster.delete_pod("default", "blink")

    item = await finding(cluster, "default", "pod-blink", "Resolved")
    assert item["status"]["summary"] == "hostPID"
    # Events yield to pending findings: the pod's may follow its finding.
    await eventually(lambda: _async(len(cluster.events("Pod")) >= 1))
    await asyncio.sleep(0.3)  # anything extra would arrive now
    assert len(cluster.events("Pod")) == 1


async def test_a_trusted_container_does_not_vouch_for_an_untrusted_sidecar(
    cluster: Cluster, operator: Controller
) -> None:
    await cluster.create_exception(exception("debug-tools", [DEBUG_IMAGE]))
    await cluster.create_pod(pod("mixed", images=(DEBUG_IMAGE, "evil.example/miner:1"), hostPID=True))

    item = await finding(cluster, "default", "pod-mixed", "Violation")
    uncovered = [i["image"] for i in item["status"]["images"] if i["uncovered"]]
    assert uncovered == ["evil.example/miner:1"]


class TestCoalescing:
    @pytest.fixture()
    def config(self) -> Config:
        return Config(port=0, coalesce_seconds=1.0, resync_seconds=0)

    async def test_a_daemonset_rollout_is_one_finding_written_once_or_twice(
        self, cluster: Cluster, operator: Controller
    ) -> None:
        await asyncio.gather(*(
            cluster.create_pod(pod(f"agent-{i}", owner=("DaemonSet", "node-agent"), hostNetwork=True))
            for i in range(30)
        ))

        item = await finding(cluster, "default", "daemonset-node-agent", "Violation")
        await eventually(lambda: _pods_count(cluster, "daemonset-node-agent", 30))
        assert item["spec"]["workload"]["kind"] == "DaemonSet"
        assert len(await cluster.findings("default")) == 1
        status_writes = [r for r in cluster.operator_writes() if r.url.path.endswith("/status")]
        # 30 pod events in one burst: one coalesced write (two if the burst straddles a window).
        assert 1 <= len(status_writes) <= 2, f"{len(status_writes)} status writes for one rollout"
        # Events are posted by their own workers, after the finding may be written.
        await eventually(lambda: _async(len(cluster.events("Pod")) >= 30))
        await asyncio.sleep(0.3)  # anything extra would arrive now
        assert len(cluster.events("Pod")) == 30  # one per pod, on its transition only


async def _pods_count(cluster: Cluster, name: str, count: int) -> bool:
    for item in await cluster.findings("default"):
        if item["metadata"]["name"] == name:
            return bool((item.get("status") or {}).get("pods", {}).get("count") == count)
    return False


async def test_compliant_pods_cause_no_api_writes(cluster: Cluster, operator: Controller) -> None:
    for i in range(20):
        await cluster.create_pod(pod(f"plain-{i}"))
    await asyncio.sleep(1.0)  # several coalescing windows
    assert cluster.operator_writes() == []
    assert await cluster.findings("default") == []


async def test_the_operator_never_writes_to_a_pod(cluster: Cluster, operator: Controller) -> None:
    await cluster.create_pod(pod("a", hostNetwork=True))
    await cluster.create_pod(pod("b", hostPID=True, hostIPC=True))
    await cluster.create_exception(exception("all", ["nginx"]))
    await finding(cluster, "default", "pod-a", "Excepted")
    await cluster.delete_pod("default", "a")
    await finding(cluster, "default", "pod-a", "Resolved")

    pod_writes = [r for r in cluster.operator_writes() if "/pods" in r.url.path]
    assert pod_writes == []
    assert cluster.operator_writes(), "the scenario must have made the operator write something"


@pytest.mark.parametrize("bad_images", [["*elastic-agent*"], ["nginx@sha256:abc"]])
async def test_an_unusable_exception_is_marked_invalid_and_trusts_nothing(
    cluster: Cluster, operator: Controller, bad_images: list[str]
) -> None:
    await cluster.create_exception(exception("broken", bad_images))
    await cluster.create_pod(pod("x", images=("docker.io/elastic/elastic-agent:8",), hostNetwork=True))

    await finding(cluster, "default", "pod-x", "Violation")

    async def invalid() -> dict[str, Any] | None:
        status = (await cluster.get_exception("broken")).get("status") or {}
        conditions = status.get("conditions") or [{}]
        return status if conditions[0].get("reason") == "Invalid" else None

    status = await eventually(invalid)
    assert status["conditions"][0]["status"] == "False"
    assert status["conditions"][0]["message"]


async def test_a_strange_pod_does_not_stop_the_operator(
    cluster: Cluster, operator: Controller
) -> None:
    strange = pod("strange", hostNetwork=True)
    strange["spec"]["containers"] = "not-a-list"
    await cluster.create_pod(strange)
    await cluster.create_pod(pod("normal", hostPID=True))

    await finding(cluster, "default", "pod-normal", "Violation")
    item = await finding(cluster, "default", "pod-strange", "Violation")
    assert item["status"]["images"][0]["image"] == "<unreadable>"


class TestStartup:
    """On start, findings are reconciled with reality."""

    @pytest.fixture()
    async def stale_finding(self, cluster: Cluster) -> None:
        await cluster.create_finding({
            "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceFinding",
            "metadata": {
                "name": "pod-gone", "namespace": "default",
                "labels": {"app.kubernetes.io/managed-by": "hostns-operator",
                           "hostns.io/verdict": "Violation"},
            },
            "spec": {"workload": {"apiVersion": "v1", "kind": "Pod", "name": "gone"}},
            "status": {"verdict": "Violation", "summary": "hostNetwork",
                       "firstSeen": "2026-01-01T00:00:00Z",
                       "lastTransitionTime": "2026-01-01T00:00:00Z"},
        })

    @pytest.fixture()
    async def reported_violation(self, cluster: Cluster) -> None:
        """What a previous run left: a violating pod and its Violation finding."""
        await cluster.create_pod(pod("still-here", hostNetwork=True))
        await cluster.create_finding({
            "apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceFinding",
            "metadata": {
                "name": "pod-still-here", "namespace": "default",
                "labels": {"app.kubernetes.io/managed-by": "hostns-operator",
                           "hostns.io/verdict": "Violation"},
            },
            "spec": {"workload": {"apiVersion": "v1", "kind": "Pod", "name": "still-here"}},
            "status": {"verdict": "Violation", "firstSeen": "2026-01-01T00:00:00Z",
                       "lastTransitionTime": "2026-01-01T00:00:00Z"},
        })

    async def test_a_restart_does_not_report_a_known_violation_again(
        self, reported_violation: None, cluster: Cluster, operator: Controller
    ) -> None:
        item = await eventually(lambda: _pods_count(cluster, "pod-still-here", 1))
        assert item
        await asyncio.sleep(0.5)
        assert cluster.events("Pod") == []
        assert cluster.events("HostNamespaceFinding") == []  # still Violation: no transition

    async def test_a_finding_whose_pods_are_gone_is_resolved_on_start(
        self, stale_finding: None, cluster: Cluster, operator: Controller
    ) -> None:
        item = await finding(cluster, "default", "pod-gone", "Resolved")
        assert item["status"]["firstSeen"] == "2026-01-01T00:00:00Z"
        assert item["status"]["summary"] == "hostNetwork"


class TestRetention:
    @pytest.fixture()
    def config(self) -> Config:
        return Config(port=0, coalesce_seconds=0.05, resync_seconds=0, retention_seconds=1.0)

    async def test_a_resolved_finding_is_deleted_after_the_retention_period(
        self, cluster: Cluster, operator: Controller
    ) -> None:
        await cluster.create_pod(pod("old", hostNetwork=True))
        await finding(cluster, "default", "pod-old", "Violation")
        await cluster.delete_pod("default", "old")
        await finding(cluster, "default", "pod-old", "Resolved")

        async def deleted() -> bool:
            return not any(
                item["metadata"]["name"] == "pod-old" for item in await cluster.findings("default")
            )

        await eventually(deleted, timeout=6.0)


async def test_kopf_keeps_no_per_pod_memory(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch, emulator: Any, config: Config
) -> None:
    """kopf would keep ~1 KB per pod ever seen (until deleted); the operator keeps none."""
    import hostns.live.runtime
    from hostns.live.handlers import EventOnlyMemories

    created: list[EventOnlyMemories] = []

    class Recorded(EventOnlyMemories):
        def __init__(self) -> None:
            super().__init__()
            created.append(self)

    monkeypatch.setattr(hostns.live.runtime, "EventOnlyMemories", Recorded)
    async with running_operator(emulator, config):
        await cluster.create_pod(pod("agent", hostNetwork=True))
        for i in range(5):
            await cluster.create_pod(pod(f"plain-{i}"))
        await finding(cluster, "default", "pod-agent", "Violation")
        (memories,) = created
        assert list(memories.iter_all_memories()) == []
