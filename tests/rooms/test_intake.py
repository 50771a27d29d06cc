"""The pod intake: the cheap path, tracking, tombstones, settled Events, the standby's take-over."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from hostns.core.workloads import Workload
from hostns.live.finding_store import FindingStore
from hostns.live.intake import PodIntake
from hostns.live.metrics import Metrics
from hostns.live.posting import EventPoster
from hostns.live.state import ClusterState
from hostns.live.wire import pod_head

from .fakes import FakeKube, pod_body

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


class Marks(list[Workload]):
    """The writer's `mark`, recorded: every workload marked, and the urgent ones."""

    def __init__(self) -> None:
        super().__init__()
        self.urgent: list[Workload] = []

    def __call__(self, workloads: Iterable[Workload], *, urgent: bool = False) -> None:
        marked = list(workloads)
        self.extend(marked)
        if urgent:
            self.urgent.extend(marked)


class Harness:
    def __init__(self) -> None:
        self.kube = FakeKube()
        self.state = ClusterState()
        self.marked = Marks()
        self.poster = EventPoster(self.kube, Metrics())  # type: ignore[arg-type]
        self.findings = FindingStore(self.kube, Metrics(), lambda: NOW)  # type: ignore[arg-type]
        self.intake = PodIntake(self.state, self.findings, self.poster, self.marked,
                                Metrics(), lambda: NOW, settle_seconds=0.01)
        self.intake.starting = False

    def feed(self, event_type: str | None, body: dict[str, Any] | bytes) -> bool:
        raw = msgspec.Raw(body if isinstance(body, bytes) else json.dumps(body).encode())
        return self.intake.on_pod(event_type, pod_head(raw), raw)

    async def posted(self) -> list[dict[str, Any]]:
        self.poster.start()
        await asyncio.sleep(0.05)
        await self.poster.stop()
        return self.kube.events


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_a_pod_without_host_namespaces_is_dropped_without_a_full_decode(
    h: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hostns.live.intake

    def no_full_decode(raw: object) -> object:
        raise AssertionError("decoded in full")

    monkeypatch.setattr(hostns.live.intake, "full", no_full_decode)
    assert h.feed("ADDED", pod_body("plain")) is False
    assert h.state.pods == {} and h.marked == []


def test_a_host_network_pod_is_tracked_and_its_workload_marked(h: Harness) -> None:
    assert h.feed("ADDED", pod_body("agent", hostNetwork=True)) is True
    assert "uid-agent" in h.state.pods
    assert h.marked == [Workload("apps", "v1", "Pod", "agent")]


def test_a_tracked_pod_takes_the_full_path_even_if_its_head_says_no_flag(h: Harness) -> None:
    h.feed("ADDED", pod_body("agent", hostNetwork=True))
    # Flags cannot change on a real API server; if they ever read as unset, the
    # pod is re-evaluated (and leaves the picture), never silently kept stale.
    assert h.feed("MODIFIED", pod_body("agent")) is False
    assert "uid-agent" not in h.state.pods and len(h.marked) == 2


def test_a_pod_whose_head_does_not_decode_is_judged_in_full(h: Harness) -> None:
    body = json.dumps(pod_body("odd", hostNetwork=True)).encode()
    odd = body.replace(b'"metadata": {', b'"metadata": {"labels": 5, ', 1)
    assert h.feed("ADDED", odd) is True  # labels 5 is strange, the pod still counts


def test_a_deleted_pod_is_tombstoned_so_a_stale_listing_cannot_bring_it_back(h: Harness) -> None:
    h.feed("ADDED", pod_body("agent", hostPID=True))
    h.feed("DELETED", pod_body("agent", hostPID=True))
    assert h.feed(None, pod_body("agent", hostPID=True)) is False
    assert h.state.pods == {}


async def test_a_violation_event_is_posted_after_the_settle_time(h: Harness) -> None:
    h.feed("ADDED", pod_body("agent", hostNetwork=True))
    events = await h.posted()
    assert [e["reason"] for e in events] == ["HostNamespaceViolation"]
    assert events[0]["involvedObject"]["name"] == "agent"


async def test_no_violation_event_when_an_exception_arrived_within_the_settle_time(h: Harness) -> None:
    h.feed("ADDED", pod_body("agent", hostNetwork=True))
    h.state.set_exception({"metadata": {"name": "ok"}, "spec": {"reason": "r", "images": ["nginx"]}})
    h.state.reevaluate(NOW)
    assert await h.posted() == []


async def test_a_standby_posts_nothing_and_reports_recent_violations_on_take_over(h: Harness) -> None:
    h.intake.standby = True
    h.feed("ADDED", pod_body("early", hostNetwork=True))
    assert await h.posted() == []
    h.intake.take_over(window=60)
    events = await h.posted()
    assert [e["involvedObject"]["name"] for e in events] == ["early"]


def test_a_complete_listing_forgets_tracked_pods_it_no_longer_has(h: Harness) -> None:
    h.feed(None, pod_body("gone", hostNetwork=True))
    h.feed(None, pod_body("here", hostNetwork=True))
    h.intake.on_listed(None, {"uid-here"}, since=float("inf"))
    assert set(h.state.pods) == {"uid-here"}
    assert Workload("apps", "v1", "Pod", "gone") in h.state.departed


def test_the_reader_thread_is_told_to_drop_only_untracked_pods_without_host_namespaces(
    h: Harness,
) -> None:
    def head(body: dict[str, Any] | bytes) -> Any:
        return pod_head(body if isinstance(body, bytes) else json.dumps(body).encode())

    assert not h.intake.wants(head(pod_body("web")))
    assert h.intake.wants(head(pod_body("agent", hostPID=True)))
    no_uid = pod_body("odd")
    del no_uid["metadata"]["uid"]
    assert h.intake.wants(head(no_uid))  # no uid: the full path logs why
    assert h.intake.wants(head(b'{"metadata": [], "spec": {}}'))  # a strange shape
    h.feed("ADDED", pod_body("agent", hostNetwork=True))
    tracked = pod_body("agent")  # the same uid, as a (pathological) flagless event
    assert h.intake.wants(head(tracked)), "a tracked uid always gets a full look"


def test_pods_the_reader_thread_dropped_count_as_evaluated() -> None:
    metrics = Metrics()
    intake = PodIntake(ClusterState(), FindingStore(FakeKube(), metrics, lambda: NOW),  # type: ignore[arg-type]
                       EventPoster(FakeKube(), metrics), Marks(), metrics,  # type: ignore[arg-type]
                       lambda: NOW)
    intake.on_skipped(41)
    assert metrics.pods_evaluated._value.get() == 41


async def test_a_new_violation_is_marked_urgent_until_its_finding_says_violation(
    h: Harness,
) -> None:
    daemonset = {"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent",
                 "uid": "ds", "controller": True}
    first, second, third = (pod_body(f"agent-{n}", hostNetwork=True) for n in "123")
    for pod in (first, second, third):
        pod["metadata"]["ownerReferences"] = [daemonset]
    workload = Workload("apps", "apps/v1", "DaemonSet", "agent")
    h.feed("ADDED", first)
    h.feed("ADDED", second)  # the finding is not written yet: still a new detection
    assert h.marked.urgent == [workload, workload]
    await h.findings.sync(workload, h.state.content_of(workload, None) or {})
    assert h.findings.verdict(workload) == "Violation"
    h.feed("ADDED", third)  # the rest of the roll-out coalesces
    h.feed("MODIFIED", {**first, "metadata": {**first["metadata"], "labels": {"x": "y"}}})
    assert h.marked == [workload] * 4 and h.marked.urgent == [workload, workload]


def test_an_excepted_pod_and_a_departure_are_not_urgent(h: Harness) -> None:
    h.state.set_exception({
        "metadata": {"name": "agent", "generation": 1},
        "spec": {"reason": "the agent is trusted", "images": ["ghcr.io/acme/agent:*"]},
    })
    trusted = pod_body("trusted", hostNetwork=True, image="ghcr.io/acme/agent:1")
    h.feed("ADDED", trusted)
    assert h.state.pods["uid-trusted"].verdict.verdict == "Excepted"
    h.feed("DELETED", trusted)
    assert len(h.marked) == 2 and h.marked.urgent == []
