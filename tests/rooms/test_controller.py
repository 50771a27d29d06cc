"""The controller's wiring: start-up order, liveness and readiness, on a fake client."""

from __future__ import annotations

import asyncio

from hostns.live.config import Config
from hostns.live.controller import Controller

from .fakes import FakeKube, pod_body, until


async def test_alive_from_the_start_ready_once_listed_and_still_alive_after() -> None:
    kube = FakeKube()
    kube.pod_pages = [[pod_body("agent", hostNetwork=True)]]
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01))  # type: ignore[arg-type]
    await controller.start()
    try:
        assert controller.healthy()
        await until(controller.ready)
        await asyncio.sleep(0.05)  # the one-shot start-up step is over by now
        assert controller.healthy() and controller.ready()
        await until(lambda: ("apps", "pod-agent") in kube.findings
                    and kube.findings["apps", "pod-agent"].get("status"))
    finally:
        await controller.stop()
    assert kube.calls[:2] == ["list_exceptions", "list_findings"], "exceptions before pods"


async def test_a_warm_standby_is_ready_writes_nothing_and_writes_on_take_over() -> None:
    kube = FakeKube()
    kube.pod_pages = [[pod_body("agent", hostPID=True)]]
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01))  # type: ignore[arg-type]
    await controller.watch_standby()
    try:
        await until(controller.ready)
        await asyncio.sleep(0.1)
        assert kube.findings == {} and kube.events == []
        await controller.start()  # the Lease is ours
        await until(lambda: kube.findings.get(("apps", "pod-agent"), {}).get("status"))
        assert kube.calls.count("list_pod_page") == 1, "no second listing on take-over"
        await until(lambda: kube.events)
    finally:
        await controller.stop()


def _exception(name: str, images: list[str], **spec: object) -> dict[str, object]:
    return {"apiVersion": "hostns.io/v1alpha1", "kind": "HostNamespaceException",
            "metadata": {"name": name, "generation": 1},
            "spec": {"reason": f"{name} is trusted", "images": images, **spec}}


async def test_with_prevention_the_parameter_object_follows_the_exceptions() -> None:
    kube = FakeKube()
    kube.exceptions["agent"] = _exception("agent", ["ghcr.io/acme/agent:*"])
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01, prevention=True))  # type: ignore[arg-type]
    await controller.start()
    try:
        await until(lambda: "hostns-prevention" in kube.params)
        held = kube.params["hostns-prevention"]["spec"]["exceptions"]
        assert [e["name"] for e in held] == ["agent"]
        await controller.on_exception_event("DELETED", {"metadata": {"name": "agent"}})
        await until(lambda: kube.params["hostns-prevention"]["spec"]["exceptions"] == [])
    finally:
        await controller.stop()


async def test_with_prevention_and_no_exception_an_empty_object_is_written() -> None:
    # Under Deny a missing object refuses every pod write: write the empty set.
    kube = FakeKube()
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01, prevention=True))  # type: ignore[arg-type]
    await controller.start()
    try:
        await until(lambda: "hostns-prevention" in kube.params)
        assert kube.params["hostns-prevention"]["spec"]["exceptions"] == []
    finally:
        await controller.stop()


async def test_without_prevention_no_parameter_object_is_touched() -> None:
    kube = FakeKube()
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01))  # type: ignore[arg-type]
    await controller.start()
    try:
        await until(controller.ready)
        await asyncio.sleep(0.05)
    finally:
        await controller.stop()
    assert kube.params == {} and not [c for c in kube.calls if "admission_params" in c]


def _report(kube: FakeKube, namespace: str) -> dict[str, object] | None:
    return kube.reports.get((namespace, "hostns-operator"))


async def test_with_reports_the_namespace_report_follows_its_findings() -> None:
    kube = FakeKube()
    kube.pod_pages = [[pod_body("agent", hostNetwork=True)]]
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01, reports="openreports"))  # type: ignore[arg-type]
    await controller.start()
    try:
        await until(lambda: _report(kube, "apps"))
        report = _report(kube, "apps")
        assert report is not None and report["summary"] == {
            "pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0}
        await controller.on_pod_event("DELETED", pod_body("agent", hostNetwork=True))
        await until(lambda: kube.findings["apps", "pod-agent"]["status"]["verdict"] == "Resolved")
        await until(lambda: _report(kube, "apps") is None)  # no stale result
    finally:
        await controller.stop()
    assert kube.calls.count("create_report") == 1


async def test_a_missing_report_crd_stalls_neither_findings_nor_health() -> None:
    kube = FakeKube()
    kube.fail("list_reports", 404)
    kube.pod_pages = [[pod_body("agent", hostNetwork=True)]]
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01, reports="openreports"))  # type: ignore[arg-type]
    await controller.start()
    try:
        await until(lambda: kube.findings.get(("apps", "pod-agent"), {}).get("status"))
        await until(lambda: controller.metrics.registry.get_sample_value(
            "hostns_reports_failing") == 1)
        assert controller.healthy()
        await until(controller.ready)
        await until(lambda: _report(kube, "apps"))  # installed since: retried with back-off
    finally:
        await controller.stop()


async def test_a_standby_writes_no_report() -> None:
    kube = FakeKube()
    kube.pod_pages = [[pod_body("agent", hostPID=True)]]
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01, reports="openreports"))  # type: ignore[arg-type]
    await controller.watch_standby()
    try:
        await until(controller.ready)
        await asyncio.sleep(0.1)
        assert not [c for c in kube.calls if c.endswith("_report") or c == "list_reports"]
        await controller.start()  # the Lease is ours
        await until(lambda: _report(kube, "apps"))
    finally:
        await controller.stop()


async def test_without_reports_no_report_is_touched() -> None:
    kube = FakeKube()
    kube.pod_pages = [[pod_body("agent", hostNetwork=True)]]
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01))  # type: ignore[arg-type]
    await controller.start()
    try:
        await until(lambda: kube.findings.get(("apps", "pod-agent"), {}).get("status"))
        await asyncio.sleep(0.05)
    finally:
        await controller.stop()
    assert kube.reports == {} and not [c for c in kube.calls if "report" in c]


def _status(kube: FakeKube, name: str) -> dict[str, object]:
    return kube.findings.get(("apps", name), {}).get("status") or {}


async def test_during_the_start_up_listing_violations_are_written_and_nothing_else() -> None:
    kube = FakeKube()
    kube.exceptions["agent"] = _exception("agent", ["ghcr.io/acme/agent:*"])
    kube.pod_pages = [[pod_body("b", hostNetwork=True)]]
    first = Controller(kube, Config(port=0, coalesce_seconds=0.01))  # type: ignore[arg-type]
    await first.start()
    try:
        await until(lambda: _status(kube, "pod-b").get("verdict") == "Violation")
    finally:
        await first.stop()
    # The restart: b is on a page that comes late; c is created during the listing.
    rest = asyncio.Event()
    kube.pod_pages = [
        [pod_body("a", hostNetwork=True), pod_body("e", hostIPC=True, image="ghcr.io/acme/agent:1")],
        rest,
        [pod_body("b", hostNetwork=True)],
    ]
    kube.watches = [[{"type": "ADDED", "object": pod_body("c", hostPID=True, rv="101")},
                     asyncio.Event()]]
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01))  # type: ignore[arg-type]
    await controller.start()
    try:
        await until(lambda: _status(kube, "pod-a").get("verdict") == "Violation"
                    and _status(kube, "pod-c").get("verdict") == "Violation")
        await asyncio.sleep(0.1)
        assert not controller.ready(), "the listing is not complete"
        assert _status(kube, "pod-e") == {}, "an Excepted finding waits for the listing"
        assert _status(kube, "pod-b")["verdict"] == "Violation", "not Resolved: b is not listed yet"
        rest.set()
        await until(lambda: controller.ready() and _status(kube, "pod-e").get("verdict") == "Excepted")
        await asyncio.sleep(0.1)
        assert _status(kube, "pod-b")["verdict"] == "Violation"
        assert "uid-c" in controller.state.pods, "the reconciliation keeps the watch's pod"
        assert _status(kube, "pod-c")["verdict"] == "Violation"
    finally:
        await controller.stop()


async def test_a_restart_does_not_rewrite_a_violation_page_by_page_with_partial_counts() -> None:
    owner = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "uid": "ds",
             "controller": True}
    pods = [pod_body(f"agent-{n}", hostNetwork=True) for n in (1, 2)]
    for pod in pods:
        pod["metadata"]["ownerReferences"] = [owner]
    kube = FakeKube()
    kube.pod_pages = [pods]
    first = Controller(kube, Config(port=0, coalesce_seconds=0.01))  # type: ignore[arg-type]
    await first.start()
    try:
        await until(lambda: _status(kube, "daemonset-agent").get("pods", {}).get("count") == 2)
    finally:
        await first.stop()
    rest = asyncio.Event()
    kube.pod_pages = [[pods[0]], rest, [pods[1]]]  # the restart lists the two pods apart
    kube.calls.clear()
    controller = Controller(kube, Config(port=0, coalesce_seconds=0.01))  # type: ignore[arg-type]
    await controller.start()
    try:
        await until(lambda: "uid-agent-1" in controller.state.pods)
        await asyncio.sleep(0.1)
        assert _status(kube, "daemonset-agent")["pods"]["count"] == 2, "not rewritten with 1"
        rest.set()
        await until(controller.ready)
        await asyncio.sleep(0.1)
        assert _status(kube, "daemonset-agent")["pods"]["count"] == 2
        assert "patch_finding_status" not in kube.calls, "nothing changed: nothing written"
    finally:
        await controller.stop()
