"""The attribution room and its wiring: audit batches in, `status.actors` and Events out."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

from hostns.core.workloads import Workload
from hostns.live.attribution import ActorBook, Attribution, attributed
from hostns.live.config import Config
from hostns.live.controller import Controller
from hostns.live.metrics import Metrics
from tests.cli.auditevents import MALLORY, RS_CONTROLLER, event

from .fakes import FakeKube, pod_body, until


def batch(*events: dict[str, Any]) -> bytes:
    return json.dumps({"kind": "EventList", "apiVersion": "audit.k8s.io/v1",
                       "metadata": {}, "items": list(events)}).encode()


def pod_write(name: str, verb: str = "create", user: dict[str, Any] | None = None,
              audit_id: str | None = None, **spec: Any) -> dict[str, Any]:
    body = pod_body(name, **spec)
    return event(verb, body, user=user or {"username": "alice", "groups": ["dev"]},
                 audit_id=audit_id, time="2026-12-01T10:00:00.000001Z")


AGENT = Workload("apps", "v1", "Pod", "agent")


def test_the_book_keeps_recent_actors_per_workload_lru_and_ttl() -> None:
    now = [0.0]
    book = ActorBook(workloads=2, ttl=10, clock=lambda: now[0])
    one, two, three = (Workload("ns", "v1", "Pod", n) for n in ("a", "b", "c"))
    assert book.add(one, {"auditID": "1", "time": "2026-12-01T10:00:00Z"})
    assert not book.add(one, {"auditID": "1", "time": "2026-12-01T10:00:00Z"})  # seen
    book.add(two, {"auditID": "2"})
    book.add(three, {"auditID": "3"})
    assert book.recent(one) == [] and len(book) == 2  # least recently written went
    now[0] = 11
    assert book.recent(two) == []  # older than the TTL


def test_a_write_without_host_namespaces_is_kept_only_for_a_tracked_workload() -> None:
    marked: list[Workload] = []
    room = Attribution(Metrics(), marked.append, tracked=lambda w: w == AGENT)
    room.record(attributed([pod_write("web"), pod_write("agent")]))
    assert marked == [AGENT]
    assert room.actors(Workload("apps", "v1", "Pod", "web")) == []


def test_writes_in_namespaces_not_watched_are_not_kept() -> None:
    marked: list[Workload] = []
    room = Attribution(Metrics(), marked.append, tracked=lambda w: True,
                       namespaces=frozenset({"other"}))
    room.record(attributed([pod_write("agent", hostNetwork=True)]))
    assert marked == [] and room.actors(AGENT) == []


async def test_the_queue_is_bounded_by_bytes_and_a_bad_batch_is_counted() -> None:
    metrics = Metrics()
    room = Attribution(metrics, lambda w: None, lambda w: True, queue_bytes=100)
    assert room.offer(b"x" * 60) and not room.offer(b"y" * 60)  # refused, nothing held
    assert room.queued_bytes == 60
    task = asyncio.create_task(room.run())
    try:
        await until(lambda: metrics.audit_bad_events._value.get() == 1)
        assert room.queued_bytes == 0 and not task.done()  # the room goes on
    finally:
        task.cancel()


def _controller(kube: FakeKube) -> Controller:
    return Controller(kube, Config(port=0, coalesce_seconds=0.01))  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def _violating() -> AsyncIterator[tuple[FakeKube, Controller]]:
    """A running controller whose one pod, `agent`, has a Violation finding already."""
    kube = FakeKube()
    kube.pod_pages = [[pod_body("agent", hostNetwork=True)]]
    controller = _controller(kube)
    await controller.start()
    try:
        await until(lambda: _finding(kube).get("verdict") == "Violation")
        yield kube, controller
    finally:
        await controller.stop()


def _named(kube: FakeKube) -> list[dict[str, Any]]:
    return [e for e in kube.events if e["reason"] == "HostNamespaceViolationWrittenBy"]


async def _until_named(kube: FakeKube) -> list[dict[str, Any]]:
    await until(lambda: _named(kube))
    return _named(kube)


def _finding(kube: FakeKube, name: str = "pod-agent") -> dict[str, Any]:
    return kube.findings.get(("apps", name), {}).get("status", {})


async def test_an_actor_known_before_the_finding_is_written_into_it_and_its_event() -> None:
    kube = FakeKube()
    controller = _controller(kube)
    controller.attribution.offer(batch(pod_write("agent", hostNetwork=True, audit_id="a-1")))
    await controller.start()
    try:
        await until(lambda: controller.attribution.actors(AGENT))
        kube.pod_pages = []
        await controller.on_pod_event("ADDED", pod_body("agent", hostNetwork=True))
        await until(lambda: _finding(kube).get("actors"))
        [actor] = _finding(kube)["actors"]
        assert (actor["username"], actor["auditID"], actor["verb"]) == ("alice", "a-1", "create")
        await until(lambda: any(e["involvedObject"]["kind"] == "HostNamespaceFinding"
                                for e in kube.events))
        [event_] = [e for e in kube.events if e["involvedObject"]["kind"] == "HostNamespaceFinding"]
        assert event_["reason"] == "HostNamespaceViolation"
        assert "last written by alice via kubectl: create pods agent" in event_["message"]
    finally:
        await controller.stop()


async def test_an_actor_known_after_the_violation_gets_one_more_event() -> None:
    async with _violating() as (kube, controller):
        writes = kube.calls.count("patch_finding_status")
        controller.attribution.offer(batch(
            pod_write("agent", "patch", user=MALLORY, audit_id="m-1", hostNetwork=True)))
        await until(lambda: _finding(kube).get("actors"))
        assert _finding(kube)["actors"][0]["username"] == "mallory"
        late = await _until_named(kube)
        assert len(late) == 1 and "written by mallory via kubectl: patch pods agent" in \
            late[0]["message"]
        # The same batch again (the API server retries): no write, no Event.
        controller.attribution.offer(batch(
            pod_write("agent", "patch", user=MALLORY, audit_id="m-1", hostNetwork=True)))
        await asyncio.sleep(0.2)
        assert kube.calls.count("patch_finding_status") == writes + 1
        assert len(_named(kube)) == 1


async def test_a_controllers_write_is_recorded_but_announces_nobody() -> None:
    async with _violating() as (kube, controller):
        controller.attribution.offer(batch(pod_write(
            "agent", user=RS_CONTROLLER, audit_id="rs-1", hostNetwork=True)))
        await until(lambda: _finding(kube).get("actors"))
        await asyncio.sleep(0.1)
        assert not _named(kube)


async def test_without_the_webhook_no_actors_are_written() -> None:
    async with _violating() as (kube, _):
        assert "actors" not in _finding(kube)
